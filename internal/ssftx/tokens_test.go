package ssftx

import (
	"context"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestSharedTokenNamesNoReceiver: two receivers given one token cannot be
// told apart; the token must not act as either (which one it was taken
// for depended on map order), so that neither sees the other's streams.
func TestSharedTokenNamesNoReceiver(t *testing.T) {
	f := newFixture(t)
	var s corev1.Secret
	if err := f.k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "ssf-receivers"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data["carol"] = []byte(aliceToken)
	if err := f.k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	f.restart()
	for range 20 {
		if code, body := f.do(http.MethodGet, PathStream, aliceToken, nil); code != http.StatusUnauthorized {
			t.Fatalf("a token two receivers share: %d %s", code, body)
		}
	}
	f.must(http.StatusOK, http.MethodGet, PathStream, bobToken, nil, nil)
}
