package kube

import (
	"context"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FreshReader reads objects from the cache, unless the cache has not yet
// seen its user's own last write to the object: then it reads from the API
// server. The grant reconciler and the sign-in ingester use it. A grant's status records what was applied (a revocation
// is terminal), so a reconcile must never start from a status older than
// the one it wrote; yet a live read for every reconcile would make a sweep
// of all grants cost one API request per grant.
type FreshReader struct {
	cache client.Reader
	live  client.Reader

	mu      sync.Mutex
	written map[types.NamespacedName]uint64
}

// NewFreshReader reads from cache, or from live when the cache lags.
func NewFreshReader(cache, live client.Reader) *FreshReader {
	return &FreshReader{cache: cache, live: live, written: map[types.NamespacedName]uint64{}}
}

// Get reads key into obj, from the cache when it is at least as new as the
// last write recorded for key.
func (f *FreshReader) Get(ctx context.Context, key types.NamespacedName, obj client.Object) error {
	if err := f.cache.Get(ctx, key, obj); err != nil {
		return err
	}
	f.mu.Lock()
	wrote, ok := f.written[key]
	f.mu.Unlock()
	if !ok {
		return nil
	}
	have, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err == nil && have >= wrote {
		f.forget(key, wrote)
		return nil
	}
	return f.live.Get(ctx, key, obj)
}

// Wrote records the resource version of a write.
func (f *FreshReader) Wrote(obj client.Object) {
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	if err != nil {
		// Not comparable: always read this object live until it is deleted.
		f.written[key] = ^uint64(0)
		return
	}
	if rv > f.written[key] {
		f.written[key] = rv
	}
}

// forget drops a record the cache has caught up with.
func (f *FreshReader) forget(key types.NamespacedName, rv uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.written[key] == rv {
		delete(f.written, key)
	}
}

// Deleted drops the record of a deleted object.
func (f *FreshReader) Deleted(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.written, key)
}
