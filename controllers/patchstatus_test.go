package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// statusPatches returns a fake client holding objs and a counter of the
// status patches sent through it.
func statusPatches(t *testing.T, objs ...client.Object) (client.Client, *int) {
	t.Helper()
	s := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	var n int
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				n++
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
		}).Build()
	return c, &n
}

func TestPatchStatusWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	f := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "f"}}
	c, patches := statusPatches(t, f)
	if err := c.Get(ctx, client.ObjectKeyFromObject(f), f); err != nil {
		t.Fatal(err)
	}

	before := f.DeepCopy()
	f.Spec.Summary = "spec changes are not status"
	if err := patchStatus(ctx, c, before, f); err != nil || *patches != 0 {
		t.Fatalf("unchanged status: err %v, %d patches, want none", err, *patches)
	}

	before = f.DeepCopy()
	f.Status.Conditions = []metav1.Condition{}
	if err := patchStatus(ctx, c, before, f); err != nil || *patches != 0 {
		t.Fatalf("nil to empty conditions is no change: err %v, %d patches", err, *patches)
	}

	before = f.DeepCopy()
	f.Status.ObservedGeneration = 7
	if err := patchStatus(ctx, c, before, f); err != nil || *patches != 1 {
		t.Fatalf("changed status: err %v, %d patches, want 1", err, *patches)
	}
	got := &accessv1alpha1.Finding{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(f), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.ObservedGeneration != 7 {
		t.Errorf("stored observedGeneration %d, want 7", got.Status.ObservedGeneration)
	}
}

func TestPatchStatusWithoutStatusIsAnError(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}}
	c, patches := statusPatches(t, cm)
	err := patchStatus(context.Background(), c, cm.DeepCopy(), cm)
	if err == nil || *patches != 0 {
		t.Errorf("a kind without status: err %v, %d patches; want an error and no write", err, *patches)
	}
}
