package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// The controller reads Secrets only in its credentials namespace; the
// manager's RBAC grants it nothing more.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get

// ErrSecretNamespace marks a credentials Secret outside the credentials
// namespace: the platform team put credentials there, and a ConnectedSystem
// may not point the controller anywhere else.
var ErrSecretNamespace = errors.New("credentials Secret outside the credentials namespace")

// Credentials reads connected systems' credentials Secrets, uncached, from
// the one namespace the controller may read them in.
type Credentials struct {
	// Reader reads from the API server, so that Secrets are neither cached
	// nor watched.
	Reader client.Reader
	// Namespace is the only namespace credentials are read from.
	Namespace string
	// Reserved names the Secrets of that namespace that the manager keeps
	// for itself (signing keys, the tokens it accepts, its certificate):
	// no object may name them as credentials, which would send them to the
	// object's host. Secrets labelled managed-by portcullis (the Shared
	// Signals transmitter's streams) are reserved too.
	Reserved map[string]bool
}

// managedByLabel marks the Secrets the manager writes for itself.
const managedByLabel, managedByValue = "app.kubernetes.io/managed-by", "portcullis"

// Read returns the data of the system's credentials Secret, or nil for a
// system without one. Errors name the Secret, never its content; a Secret
// outside the namespace wraps ErrSecretNamespace and is not read at all.
func (c *Credentials) Read(ctx context.Context, s *accessv1alpha1.ConnectedSystem) (map[string][]byte, error) {
	return c.ReadRef(ctx, s.Spec.CredentialsSecretRef)
}

// ReadRef returns the data of the Secret ref names, or nil for no ref, as
// Read does.
func (c *Credentials) ReadRef(ctx context.Context, ref *accessv1alpha1.SecretReference) (map[string][]byte, error) {
	if ref == nil {
		return nil, nil
	}
	if ref.Namespace != c.Namespace {
		return nil, fmt.Errorf("%w: Secret %s/%s is not in %s, the only namespace the controller reads credentials from: move the Secret there and fix spec.credentialsSecretRef",
			ErrSecretNamespace, ref.Namespace, ref.Name, c.Namespace)
	}
	reserved := fmt.Errorf("%w: Secret %s/%s is one the manager keeps for itself (its signing keys, the tokens it accepts or its own state), which credentials may not name: create a Secret of its own for these credentials",
		ErrSecretNamespace, ref.Namespace, ref.Name)
	if c.Reserved[ref.Name] {
		return nil, reserved
	}
	secret := &corev1.Secret{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the credentials Secret %s/%s does not exist: create it or fix spec.credentialsSecretRef: %w", ref.Namespace, ref.Name, err)
		}
		return nil, fmt.Errorf("reading credentials Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if secret.Labels[managedByLabel] == managedByValue {
		return nil, reserved
	}
	return secret.Data, nil
}
