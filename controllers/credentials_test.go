package controllers

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// No object may name the manager's own Secrets as its credentials: they
// would be sent to the object's host.
func TestCredentialsRefuseTheManagersOwnSecrets(t *testing.T) {
	secret := func(name string, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "creds", Name: name, Labels: labels},
			Data: map[string][]byte{"token": []byte("t")}}
	}
	reader := fake.NewClientBuilder().WithObjects(
		secret("okta", nil),
		secret("ssf-keys", nil),
		secret("portcullis-ssf-stream-0123", map[string]string{"app.kubernetes.io/managed-by": "portcullis"}),
	).Build()
	c := &Credentials{Reader: reader, Namespace: "creds", Reserved: map[string]bool{"ssf-keys": true}}
	ctx := context.Background()
	if data, err := c.ReadRef(ctx, &accessv1alpha1.SecretReference{Namespace: "creds", Name: "okta"}); err != nil || len(data) != 1 {
		t.Fatalf("an ordinary credentials Secret: %v, %v", data, err)
	}
	for _, name := range []string{"ssf-keys", "portcullis-ssf-stream-0123"} {
		data, err := c.ReadRef(ctx, &accessv1alpha1.SecretReference{Namespace: "creds", Name: name})
		if !errors.Is(err, ErrSecretNamespace) || data != nil {
			t.Errorf("%s: got %v, %v; want it refused", name, data, err)
		}
	}
}
