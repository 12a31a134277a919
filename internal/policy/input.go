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
	b := &builder{conv: c}
	doc := ast.NewObjectWithCapacity(8)
	doc.Insert(b.str("now"), b.str(in.Now.UTC().Format(time.RFC3339Nano)))
	doc.Insert(b.str("now_ns"), ast.InternedTerm(in.Now.UnixNano()))
	for _, o := range []struct {
		key  string
		meta *metav1.ObjectMeta
		spec any
	}{
		{"contractor", &in.Contractor.ObjectMeta, &in.Contractor.Spec},
		{"grant", &in.Grant.ObjectMeta, &in.Grant.Spec},
		{"system", &in.System.ObjectMeta, &in.System.Spec},
	} {
		t, err := b.object(o.meta, o.spec)
		if err != nil {
			return nil, err
		}
		doc.Insert(b.str(o.key), t)
	}
	fs := make([]*ast.Term, 0, len(findings))
	for i := range findings {
		t, err := b.object(&findings[i].ObjectMeta, &findings[i].Spec)
		if err != nil {
			return nil, err
		}
		fs = append(fs, t)
	}
	doc.Insert(b.str("findings"), b.newTerm(ast.NewArray(fs...)))
	es := make([]*ast.Term, 0, len(exceptions))
	for i := range exceptions {
		t, err := b.object(&exceptions[i].ObjectMeta, &exceptions[i].Spec)
		if err != nil {
			return nil, err
		}
		es = append(es, t)
	}
	doc.Insert(b.str("exceptions"), b.newTerm(ast.NewArray(es...)))
	signins, err := b.term(reflect.ValueOf(in.Contractor.Status.SignIns))
	if err != nil {
		return nil, fmt.Errorf("converting sign-in summary: %w", err)
	}
	doc.Insert(b.str("signins"), orNull(signins))
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
func (b *builder) object(m *metav1.ObjectMeta, spec any) (*ast.Term, error) {
	s, err := b.term(reflect.ValueOf(spec))
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", m.Name, err)
	}
	meta := ast.NewObjectWithCapacity(5)
	meta.Insert(b.str("name"), b.str(m.Name))
	if m.Namespace != "" {
		meta.Insert(b.str("namespace"), b.str(m.Namespace))
	}
	if len(m.Labels) > 0 {
		meta.Insert(b.str("labels"), b.newTerm(ast.MapToObject(m.Labels, nil, ast.InternedTerm)))
	}
	if len(m.Annotations) > 0 {
		meta.Insert(b.str("annotations"), b.newTerm(ast.MapToObject(m.Annotations, nil, ast.InternedTerm)))
	}
	if !m.CreationTimestamp.IsZero() {
		meta.Insert(b.str("creationTimestamp"), b.str(m.CreationTimestamp.UTC().Format(time.RFC3339)))
	}
	return b.newTerm(ast.NewObject(ast.Item(b.str("metadata"), b.newTerm(meta)), ast.Item(b.str("spec"), orNull(s)))), nil
}
