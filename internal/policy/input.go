package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// ErrIncompleteInput is returned when the contractor, grant or system is missing.
var ErrIncompleteInput = errors.New("a decision needs the contractor, the grant and the connected system")

// inputValue assembles the input document that policies read as `input`,
// with only active findings and the exceptions that apply, straight into
// OPA's value (no JSON round trip). Its shape is documented in
// docs/policy-input.md and docs/policy-input.schema.json.
func inputValue(in *Input, findings []accessv1alpha1.Finding, exceptions []accessv1alpha1.PolicyException) (ast.Value, error) {
	doc, err := inputDocument(in, findings, exceptions)
	if err != nil {
		return nil, err
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, fmt.Errorf("converting policy input: %w", err)
	}
	return v, nil
}

// InputDocument returns the input document that Decide evaluates for in,
// as plain JSON values: the same findings and exceptions are kept, and it
// is built by the same code, so `opa eval -i` on it sees what the engine
// sees.
func (e *OPAEngine) InputDocument(in Input) (any, error) {
	if in.Contractor == nil || in.Grant == nil || in.System == nil {
		return nil, ErrIncompleteInput
	}
	v, err := inputValue(&in, activeFindings(in.Findings, in.Now), matchingExceptions(&in, e.maxException))
	if err != nil {
		return nil, err
	}
	return ast.JSON(v)
}

// inputDocument assembles the input document as Go maps and slices.
func inputDocument(in *Input, findings []accessv1alpha1.Finding, exceptions []accessv1alpha1.PolicyException) (map[string]any, error) {
	doc := map[string]any{
		"now":    in.Now.UTC().Format(time.RFC3339Nano),
		"now_ns": in.Now.UnixNano(),
	}
	var err error
	if doc["contractor"], err = object(&in.Contractor.ObjectMeta, &in.Contractor.Spec); err != nil {
		return nil, err
	}
	if doc["grant"], err = object(&in.Grant.ObjectMeta, &in.Grant.Spec); err != nil {
		return nil, err
	}
	if doc["system"], err = object(&in.System.ObjectMeta, &in.System.Spec); err != nil {
		return nil, err
	}
	fs := make([]any, 0, len(findings))
	for i := range findings {
		o, err := object(&findings[i].ObjectMeta, &findings[i].Spec)
		if err != nil {
			return nil, err
		}
		fs = append(fs, o)
	}
	doc["findings"] = fs
	es := make([]any, 0, len(exceptions))
	for i := range exceptions {
		o, err := object(&exceptions[i].ObjectMeta, &exceptions[i].Spec)
		if err != nil {
			return nil, err
		}
		es = append(es, o)
	}
	doc["exceptions"] = es
	doc["signins"] = nil
	if s := in.Contractor.Status.SignIns; s != nil {
		if doc["signins"], err = runtime.DefaultUnstructuredConverter.ToUnstructured(s); err != nil {
			return nil, fmt.Errorf("converting sign-in summary: %w", err)
		}
	}
	return doc, nil
}

// object is a resource as policies see it: identity, labels and spec.
// Status is left out so that a decision never depends on an earlier one.
func object(m *metav1.ObjectMeta, spec any) (map[string]any, error) {
	s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", m.Name, err)
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
		meta["creationTimestamp"] = m.CreationTimestamp.UTC().Format(time.RFC3339)
	}
	return map[string]any{"metadata": meta, "spec": s}, nil
}
