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
	b := c.newBuilder()
	b.push(keys.now, b.str(in.Now.UTC().Format(time.RFC3339Nano)))
	b.push(keys.nowNS, b.int(in.Now.UnixNano()))
	for _, o := range []struct {
		key  *ast.Term
		meta *metav1.ObjectMeta
		spec any
	}{
		{keys.contractor, &in.Contractor.ObjectMeta, &in.Contractor.Spec},
		{keys.grant, &in.Grant.ObjectMeta, &in.Grant.Spec},
		{keys.system, &in.System.ObjectMeta, &in.System.Spec},
	} {
		t, err := b.object(o.meta, o.spec)
		if err != nil {
			return nil, err
		}
		b.push(o.key, t)
	}
	fs, err := objects(b, findings, func(f *accessv1alpha1.Finding) (*metav1.ObjectMeta, any) { return &f.ObjectMeta, &f.Spec })
	if err != nil {
		return nil, err
	}
	b.push(keys.findings, fs)
	es, err := objects(b, exceptions, func(e *accessv1alpha1.PolicyException) (*metav1.ObjectMeta, any) {
		return &e.ObjectMeta, &e.Spec
	})
	if err != nil {
		return nil, err
	}
	b.push(keys.exceptions, es)
	signins, err := b.term(reflect.ValueOf(in.Contractor.Status.SignIns))
	if err != nil {
		return nil, fmt.Errorf("converting sign-in summary: %w", err)
	}
	b.push(keys.signins, orNull(signins))
	return b.objectOf(0, false).Value, nil
}

// keys are the input document's own keys, made once.
var keys = struct {
	now, nowNS, contractor, grant, system, findings, exceptions, signins *ast.Term
	metadata, spec, name, namespace, labels, annotations, created        *ast.Term
}{
	now: ast.StringTerm("now"), nowNS: ast.StringTerm("now_ns"), contractor: ast.StringTerm("contractor"),
	grant: ast.StringTerm("grant"), system: ast.StringTerm("system"), findings: ast.StringTerm("findings"),
	exceptions: ast.StringTerm("exceptions"), signins: ast.StringTerm("signins"),
	metadata: ast.StringTerm("metadata"), spec: ast.StringTerm("spec"), name: ast.StringTerm("name"),
	namespace: ast.StringTerm("namespace"), labels: ast.StringTerm("labels"), annotations: ast.StringTerm("annotations"),
	created: ast.StringTerm("creationTimestamp"),
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

// objects is an array of resources as policies see them (object); parts
// gives a resource's metadata and spec.
func objects[T any](b *builder, items []T, parts func(*T) (*metav1.ObjectMeta, any)) (*ast.Term, error) {
	terms := b.array(len(items))
	for i := range items {
		t, err := b.object(parts(&items[i]))
		if err != nil {
			return nil, err
		}
		terms[i] = t
	}
	return b.newTerm(ast.NewArray(terms...)), nil
}

// object is a resource as policies see it: identity, labels and spec.
// Status is left out so that a decision never depends on an earlier one.
func (b *builder) object(m *metav1.ObjectMeta, spec any) (*ast.Term, error) {
	s, err := b.term(reflect.ValueOf(spec))
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", m.Name, err)
	}
	mark := len(b.items)
	b.push(keys.name, b.str(m.Name))
	if m.Namespace != "" {
		b.push(keys.namespace, b.str(m.Namespace))
	}
	if len(m.Labels) > 0 {
		b.push(keys.labels, b.strings(m.Labels, false))
	}
	if len(m.Annotations) > 0 && !onlyLastApplied(m.Annotations) {
		b.push(keys.annotations, b.strings(m.Annotations, true))
	}
	if !m.CreationTimestamp.IsZero() {
		b.push(keys.created, b.str(m.CreationTimestamp.UTC().Format(time.RFC3339)))
	}
	meta := b.objectOf(mark, false)
	b.push(keys.metadata, meta)
	b.push(keys.spec, orNull(s))
	return b.objectOf(mark, false), nil
}

// strings is a map of strings, labels or annotations, as an object;
// annotations leave lastApplied out.
func (b *builder) strings(m map[string]string, annotations bool) *ast.Term {
	mark := len(b.items)
	for k, v := range m {
		if !annotations || k != lastApplied {
			b.push(b.str(k), b.str(v))
		}
	}
	return b.objectOf(mark, false)
}

// lastApplied is the annotation in which kubectl apply keeps a copy of the
// applied object. Policies do not see it: the manager's cache drops it
// from Contractors and AccessGrants, and a decision must not depend on
// whether an object was read from the cache or the API server.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// onlyLastApplied reports whether lastApplied is the one annotation.
func onlyLastApplied(annotations map[string]string) bool {
	_, ok := annotations[lastApplied]
	return ok && len(annotations) == 1
}
