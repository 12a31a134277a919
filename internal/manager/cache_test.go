package manager

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// The cache keeps objects without managedFields, which no reconcile reads
// and which are a large part of a small object's memory.
func TestCacheDropsManagedFields(t *testing.T) {
	g := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns",
		Annotations:   map[string]string{"team": "payments"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}}}
	out, err := CacheOptions().DefaultTransform(g)
	if err != nil {
		t.Fatal(err)
	}
	kept := out.(*accessv1alpha1.AccessGrant)
	if len(kept.ManagedFields) != 0 {
		t.Errorf("managedFields kept in the cache: %v", kept.ManagedFields)
	}
	if kept.Name != "g" || kept.Annotations["team"] != "payments" {
		t.Errorf("the transform changed more than managedFields: %+v", kept.ObjectMeta)
	}
}
