package manager

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

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
// numbers grow with the people, which the manager only patches, and from
// objects cached as metadata alone, and kept on the kinds it updates,
// where dropping it from an Update would lose it on the server too.
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
		{&metav1.PartialObjectMetadata{ObjectMeta: meta()}, false},
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

// A contractor's sign-ins are cached with their values unchanged, in lists
// without spare room, and the strings they repeat kept once.
func TestCacheCompactsSignIns(t *testing.T) {
	record := func(ip string) accessv1alpha1.SignInRecord {
		// Each string is built afresh, as the decoder builds it.
		return accessv1alpha1.SignInRecord{Time: metav1.Now(), IP: strings.Clone(ip), Country: "PT",
			DeviceID: strings.Clone("laptop-7"), Timezone: strings.Clone("Europe/Lisbon")}
	}
	recent := make([]accessv1alpha1.SignInRecord, 0, 64) // as the decoder leaves 50
	recent = append(recent, record("192.0.2.7"), record("192.0.2.7"), record("198.51.100.3"))
	for len(recent) < 50 {
		recent = append(recent, record("203.0.113.9"))
	}
	want := slices.Clone(recent)
	c := &accessv1alpha1.Contractor{Status: accessv1alpha1.ContractorStatus{SignIns: &accessv1alpha1.SignInSummary{
		Total: 50, Recent: recent, Countries: []accessv1alpha1.CountryCount{{Country: "PT", Count: 3}}}}}
	out, err := CacheOptions().DefaultTransform(c)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*accessv1alpha1.Contractor).Status.SignIns
	if !reflect.DeepEqual(got.Recent, want) || got.Total != 50 || len(got.Countries) != 1 {
		t.Fatalf("the sign-ins changed:\n got %+v\nwant %+v", got.Recent, want)
	}
	if cap(got.Recent) != len(got.Recent) {
		t.Errorf("recent sign-ins cached with room for %d, hold %d", cap(got.Recent), len(got.Recent))
	}
	shared := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	a, b := got.Recent[0], got.Recent[1]
	if !shared(a.IP, b.IP) || !shared(a.DeviceID, b.DeviceID) || !shared(a.Timezone, got.Recent[2].Timezone) {
		t.Error("a repeated address, device or time zone is kept more than once")
	}
}
