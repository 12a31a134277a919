package manifests

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// Apply must leave the manifests as they were: a retry of the same list
// (portcullis dev retries the samples while admission starts) would
// otherwise send the server's managedFields back to it, which it refuses.
func TestApplyLeavesTheManifestsAlone(t *testing.T) {
	objs, err := Decode("cm.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\ndata: {k: v}\n"))
	if err != nil {
		t.Fatal(err)
	}
	before := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		before = append(before, o.DeepCopy())
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithReturnManagedFields().Build()
	for range 2 {
		if err := Apply(context.Background(), c, "test", objs); err != nil {
			t.Fatal(err)
		}
	}
	for i := range objs {
		if !equality.Semantic.DeepEqual(objs[i], before[i]) {
			t.Errorf("Apply changed the manifest:\n%v\nwas\n%v", objs[i].Object, before[i].Object)
		}
	}
}
