package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// A burst of restrictive transitions, as a bad push makes, counts the
// grants once, not once per transition over every grant.
func TestCountGrantsReusesARecentCount(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for i := range 3 {
		objs = append(objs, &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("g%d", i)}})
	}
	var mu sync.Mutex
	lists := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			mu.Lock()
			lists++
			mu.Unlock()
			return c.List(ctx, list, opts...)
		}}).Build()
	r := &AccessGrantReconciler{Client: c}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			n, err := r.countGrants(context.Background())
			if err != nil || n != 3 {
				t.Errorf("countGrants = %d, %v; want 3", n, err)
			}
		})
	}
	wg.Wait()
	if lists != 1 {
		t.Errorf("100 counts listed the grants %d times, want once", lists)
	}
}
