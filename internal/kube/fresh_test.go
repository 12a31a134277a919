package kube

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// stubReader answers Get with a grant of a fixed resource version.
type stubReader struct {
	rv    string
	calls int
}

func (s *stubReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	s.calls++
	g := obj.(*accessv1alpha1.AccessGrant)
	g.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: s.rv}
	return nil
}

func (s *stubReader) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

func TestFreshReaderReadsLiveOnlyWhileTheCacheIsBehind(t *testing.T) {
	cache, live := &stubReader{rv: "10"}, &stubReader{rv: "12"}
	f := NewFreshReader(cache, live)
	key := types.NamespacedName{Namespace: "ns", Name: "g"}
	g := &accessv1alpha1.AccessGrant{}

	if err := f.Get(context.Background(), key, g); err != nil || live.calls != 0 {
		t.Fatalf("with no write recorded, read live %d times (err %v)", live.calls, err)
	}
	f.Wrote(&accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g", ResourceVersion: "12"}})
	if err := f.Get(context.Background(), key, g); err != nil || live.calls != 1 || g.ResourceVersion != "12" {
		t.Fatalf("a stale cache was trusted: live calls %d, rv %s (err %v)", live.calls, g.ResourceVersion, err)
	}
	cache.rv = "13"
	if err := f.Get(context.Background(), key, g); err != nil || live.calls != 1 || g.ResourceVersion != "13" {
		t.Fatalf("a cache that caught up was not used: live calls %d, rv %s", live.calls, g.ResourceVersion)
	}
	cache.rv = "11"
	if err := f.Get(context.Background(), key, g); err != nil || live.calls != 1 {
		t.Fatalf("the record was not dropped once the cache caught up: live calls %d", live.calls)
	}
}
