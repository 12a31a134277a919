package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/randfill"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// unstructuredInput is the input document built the way the converter
// replaces: runtime.DefaultUnstructuredConverter, then ast.InterfaceToValue.
func unstructuredInput(t *testing.T, in *Input) ast.Value {
	t.Helper()
	object := func(m *metav1.ObjectMeta, spec any) map[string]any {
		s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
		if err != nil {
			t.Fatal(err)
		}
		meta := map[string]any{"name": m.Name}
		if m.Namespace != "" {
			meta["namespace"] = m.Namespace
		}
		if len(m.Labels) > 0 {
			meta["labels"] = m.Labels
		}
		if len(m.Annotations) > 0 {
			meta["annotations"] = m.Annotations
		}
		if !m.CreationTimestamp.IsZero() {
			meta["creationTimestamp"] = m.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
		return map[string]any{"metadata": meta, "spec": s}
	}
	fs := []any{}
	for i := range in.Findings {
		fs = append(fs, object(&in.Findings[i].ObjectMeta, &in.Findings[i].Spec))
	}
	es := []any{}
	for i := range in.Exceptions {
		es = append(es, object(&in.Exceptions[i].ObjectMeta, &in.Exceptions[i].Spec))
	}
	doc := map[string]any{
		"now":        in.Now.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"),
		"now_ns":     in.Now.UnixNano(),
		"contractor": object(&in.Contractor.ObjectMeta, &in.Contractor.Spec),
		"grant":      object(&in.Grant.ObjectMeta, &in.Grant.Spec),
		"system":     object(&in.System.ObjectMeta, &in.System.Spec),
		"findings":   fs,
		"exceptions": es,
		"signins":    nil,
	}
	if s := in.Contractor.Status.SignIns; s != nil {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
		if err != nil {
			t.Fatal(err)
		}
		doc["signins"] = u
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConverterMatchesUnstructured checks that the converter builds the
// input document that the unstructured route builds, on the benchmark's
// inputs and on randomly filled API objects (nil and empty lists, maps and
// pointers, every field set or not).
func TestConverterMatchesUnstructured(t *testing.T) {
	inputs := []Input{typicalInput(), inputWithFindings(0), inputWithFindings(50), testInput()}
	f := randfill.NewWithSeed(1).NilChance(0.3).NumElements(0, 3).Funcs(
		func(tm *metav1.Time, c randfill.Continue) {
			if c.Bool() {
				*tm = metav1.Unix(c.Int63n(4e9), c.Int63n(1e9))
			}
		},
		func(tm *metav1.MicroTime, c randfill.Continue) {
			if c.Bool() {
				*tm = metav1.NewMicroTime(metav1.Unix(c.Int63n(4e9), c.Int63n(1e9)).Time)
			}
		},
	)
	for range 200 {
		in := Input{
			Contractor: &accessv1alpha1.Contractor{}, Grant: &accessv1alpha1.AccessGrant{}, System: &accessv1alpha1.ConnectedSystem{},
			Findings: make([]accessv1alpha1.Finding, 2), Exceptions: make([]accessv1alpha1.PolicyException, 2),
		}
		f.Fill(in.Contractor)
		f.Fill(in.Grant)
		f.Fill(in.System)
		for i := range in.Findings {
			f.Fill(&in.Findings[i])
		}
		for i := range in.Exceptions {
			f.Fill(&in.Exceptions[i])
		}
		f.Fill(&in.Now)
		inputs = append(inputs, in)
	}
	c := &converter{}
	for i, in := range inputs {
		got, err := c.inputValue(&in, in.Findings, in.Exceptions)
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		if want := unstructuredInput(t, &in); got.Compare(want) != 0 {
			t.Fatalf("input %d: the converter built\n%v\nthe unstructured route\n%v", i, got, want)
		}
	}
}
