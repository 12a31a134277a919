package policy

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestActiveFindings(t *testing.T) {
	named := func(name string, expired bool) accessv1alpha1.Finding {
		f := finding("geolocation", "CA")
		f.Name = name
		if expired {
			f.Spec.ExpiresAt = &metav1.Time{Time: testNow}
		}
		return f
	}
	for _, tt := range []struct {
		name string
		in   []accessv1alpha1.Finding
		want []string
	}{
		{"none", nil, nil},
		{"all active", []accessv1alpha1.Finding{named("a", false), named("b", false)}, []string{"a", "b"}},
		{"all expired", []accessv1alpha1.Finding{named("a", true), named("b", true)}, []string{}},
		{"first expired", []accessv1alpha1.Finding{named("a", true), named("b", false), named("c", false)}, []string{"b", "c"}},
		{"middle expired", []accessv1alpha1.Finding{named("a", false), named("b", true), named("c", false)}, []string{"a", "c"}},
		{"last expired", []accessv1alpha1.Finding{named("a", false), named("b", false), named("c", true)}, []string{"a", "b"}},
	} {
		var got []string
		for _, f := range activeFindings(tt.in, testNow) {
			got = append(got, f.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: activeFindings = %v, want %v", tt.name, got, tt.want)
		}
	}
}
