package policy

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// ErrIncompleteInput is returned when the contractor, grant or system is missing.
var ErrIncompleteInput = errors.New("a decision needs the contractor, the grant and the connected system")

// inputValue assembles the input document that policies read as `input`,
// with only active findings and the exceptions that apply, straight into
// OPA's value: no JSON, and no unstructured maps in between (converter).
// Its shape is documented in docs/policy-input.md and
// docs/policy-input.schema.json.
func (c *converter) inputValue(in *Input, findings []accessv1alpha1.Finding, exceptions []accessv1alpha1.PolicyException) (ast.Value, error) {
	doc := ast.NewObjectWithCapacity(8)
	doc.Insert(ast.StringTerm("now"), ast.StringTerm(in.Now.UTC().Format(time.RFC3339Nano)))
	doc.Insert(ast.StringTerm("now_ns"), ast.InternedTerm(in.Now.UnixNano()))
	for _, o := range []struct {
		key  string
		meta *metav1.ObjectMeta
		spec any
	}{
		{"contractor", &in.Contractor.ObjectMeta, &in.Contractor.Spec},
		{"grant", &in.Grant.ObjectMeta, &in.Grant.Spec},
		{"system", &in.System.ObjectMeta, &in.System.Spec},
	} {
		t, err := c.object(o.meta, o.spec)
		if err != nil {
			return nil, err
		}
		doc.Insert(ast.StringTerm(o.key), t)
	}
	fs := make([]*ast.Term, 0, len(findings))
	for i := range findings {
		t, err := c.object(&findings[i].ObjectMeta, &findings[i].Spec)
		if err != nil {
			return nil, err
		}
		fs = append(fs, t)
	}
	doc.Insert(ast.StringTerm("findings"), ast.ArrayTerm(fs...))
	es := make([]*ast.Term, 0, len(exceptions))
	for i := range exceptions {
		t, err := c.object(&exceptions[i].ObjectMeta, &exceptions[i].Spec)
		if err != nil {
			return nil, err
		}
		es = append(es, t)
	}
	doc.Insert(ast.StringTerm("exceptions"), ast.ArrayTerm(es...))
	signins, err := c.term(reflect.ValueOf(in.Contractor.Status.SignIns))
	if err != nil {
		return nil, fmt.Errorf("converting sign-in summary: %w", err)
	}
	doc.Insert(ast.StringTerm("signins"), orNull(signins))
	return doc, nil
}

// InputDocument returns the input document that Decide evaluates for in,
// as plain JSON values: the same findings and exceptions are kept, and it
// is built by the same code, so `opa eval -i` on it sees what the engine
// sees.
func (e *OPAEngine) InputDocument(in Input) (any, error) {
	if in.Contractor == nil || in.Grant == nil || in.System == nil {
		return nil, ErrIncompleteInput
	}
	v, err := e.conv.inputValue(&in, activeFindings(in.Findings, in.Now), matchingExceptions(&in, e.maxException))
	if err != nil {
		return nil, err
	}
	return ast.JSON(v)
}

// object is a resource as policies see it: identity, labels and spec.
// Status is left out so that a decision never depends on an earlier one.
func (c *converter) object(m *metav1.ObjectMeta, spec any) (*ast.Term, error) {
	s, err := c.term(reflect.ValueOf(spec))
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", m.Name, err)
	}
	meta := ast.NewObjectWithCapacity(5)
	meta.Insert(ast.StringTerm("name"), ast.StringTerm(m.Name))
	if m.Namespace != "" {
		meta.Insert(ast.StringTerm("namespace"), ast.StringTerm(m.Namespace))
	}
	if len(m.Labels) > 0 {
		meta.Insert(ast.StringTerm("labels"), ast.NewTerm(ast.MapToObject(m.Labels, nil, ast.InternedTerm)))
	}
	if len(m.Annotations) > 0 {
		meta.Insert(ast.StringTerm("annotations"), ast.NewTerm(ast.MapToObject(m.Annotations, nil, ast.InternedTerm)))
	}
	if !m.CreationTimestamp.IsZero() {
		meta.Insert(ast.StringTerm("creationTimestamp"), ast.StringTerm(m.CreationTimestamp.UTC().Format(time.RFC3339)))
	}
	return ast.ObjectTerm(ast.Item(ast.StringTerm("metadata"), ast.NewTerm(meta)), ast.Item(ast.StringTerm("spec"), orNull(s))), nil
}
