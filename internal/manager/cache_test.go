package manager

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// kubectl's copy of the applied object is dropped from the kinds whose
// numbers grow with the people, which the manager only patches, and kept
// on the kinds it updates, where dropping it from an Update would lose it
// on the server too.
func TestCacheDropsLastAppliedOfContractorsAndGrants(t *testing.T) {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "x", Namespace: "ns",
			Annotations: map[string]string{lastApplied: "{}", "team": "payments"}}
	}
	for _, tc := range []struct {
		obj  client.Object
		kept bool
	}{
		{&accessv1alpha1.Contractor{ObjectMeta: meta()}, false},
		{&accessv1alpha1.AccessGrant{ObjectMeta: meta()}, false},
		{&accessv1alpha1.SignalStream{ObjectMeta: meta()}, true},
		{&accessv1alpha1.Finding{ObjectMeta: meta()}, true},
		{&accessv1alpha1.AccessPolicy{ObjectMeta: meta()}, true},
	} {
		out, err := CacheOptions().DefaultTransform(tc.obj)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(client.Object).GetAnnotations()
		if _, ok := got[lastApplied]; ok != tc.kept {
			t.Errorf("%T: last-applied kept %v, want %v", tc.obj, ok, tc.kept)
		}
		if got["team"] != "payments" {
			t.Errorf("%T: another annotation was dropped: %v", tc.obj, got)
		}
	}
}
