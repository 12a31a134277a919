package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// maxMessage bounds a reason's message, as the API does.
const maxMessage = 1024

// overrunTries is how many times one decision runs a policy that overruns
// its deadline. An overrun is as often the manager starved of CPU (a
// garbage collection, a busy node) as the policy's own fault, and is no
// evidence against the contractor; a policy that overruns every time still
// fails, at the cost of this many deadlines.
const overrunTries = 2

// evalOptions are the options of one decision's evaluations: its input
// and time, one read transaction for all of them (the store is never
// written after NewEngine; the caller aborts it), bindings kept as terms,
// and no metrics, which nothing reads.
func (e *OPAEngine) evalOptions(ctx context.Context, input ast.Value, now time.Time) ([]rego.EvalOption, storage.Transaction, error) {
	txn, err := e.store.NewTransaction(ctx)
	if err != nil {
		return nil, nil, err
	}
	return []rego.EvalOption{rego.EvalParsedInput(input), rego.EvalTime(now), rego.EvalTransaction(txn), keepTerms, noMetrics}, txn, nil
}

// keepTerms and noMetrics are evaluation options made once: see evalOptions.
var (
	keepTerms = rego.EvalGenerateJSON(resultTerm)
	noMetrics = rego.EvalMetrics(metrics.NoOp())
)

// evaluate runs one policy's prepared query with opts (evalOptions) within
// the engine's deadline, again once if it overran, and parses its reasons.
func (e *OPAEngine) evaluate(ctx context.Context, c *compiled, opts []rego.EvalOption) policyResult {
	if c.broken != nil {
		return policyResult{policy: c.policy, err: fmt.Errorf("it has no version that compiles: %w", c.broken)}
	}
	var rs rego.ResultSet
	var err error
	for try := 1; ; try++ {
		var overran bool
		rs, overran, err = e.run(ctx, c, opts)
		if !overran {
			break
		}
		if try == overrunTries || ctx.Err() != nil {
			err = fmt.Errorf("evaluation exceeded its deadline of %s in each of %d tries", e.timeout, try)
			break
		}
	}
	if err != nil {
		return policyResult{policy: c.policy, err: err}
	}
	if len(rs) == 0 {
		// Multi-value rules are always defined; no result means the query
		// itself failed, which must not pass as an allow.
		return policyResult{policy: c.policy, err: errors.New("the policy produced no result")}
	}
	var reasons []Reason
	for _, rule := range c.rules {
		parsed, err := parseReasons(c.policy.Name, rule, rs[0].Bindings[rule])
		if err != nil {
			return policyResult{policy: c.policy, err: err}
		}
		reasons = append(reasons, parsed...)
	}
	return policyResult{policy: c.policy, reasons: reasons}
}

// run evaluates the policy's query once within the engine's deadline, and
// reports whether it overran it.
func (e *OPAEngine) run(ctx context.Context, c *compiled, opts []rego.EvalOption) (rego.ResultSet, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	rs, err := c.query.Eval(ctx, opts...)
	return rs, err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded), err
}

// resultTerm keeps a query's bindings as OPA terms: reasons are read from
// them directly, without a conversion to JSON values in between.
func resultTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// reasonKeys are the keys reasons are read by, as terms made once: OPA
// interns none of them, and ast.InternedTerm would make a new term for
// each on every lookup.
var reasonKeys = map[string]*ast.Term{}

func init() {
	for _, k := range []string{"msg", "code", "severity", "weight", "threshold", "evidence", "ip", "deviceID", "country", "relatedContractors"} {
		reasonKeys[k] = ast.StringTerm(k)
	}
}

// keyTerm is key as a term to look up: one of reasonKeys, or a new term.
func keyTerm(key string) *ast.Term {
	if t, ok := reasonKeys[key]; ok {
		return t
	}
	return ast.StringTerm(key)
}

// field is obj's key, or nil when it is missing or null (as JSON's nil).
func field(obj ast.Object, key string) ast.Value {
	t := obj.Get(keyTerm(key))
	if t == nil {
		return nil
	}
	if _, null := t.Value.(ast.Null); null {
		return nil
	}
	return t.Value
}

// show prints a value of a malformed reason.
func show(v ast.Value) string {
	if v == nil {
		return "<nil>"
	}
	return v.String()
}

// str is v as a Go string, if it is one.
func str(v ast.Value) (string, bool) {
	s, ok := v.(ast.String)
	return string(s), ok
}

// parseReasons checks and converts the members of one rule set.
func parseReasons(policy, rule string, raw any) ([]Reason, error) {
	t, _ := raw.(*ast.Term)
	var set ast.Set
	if t != nil {
		set, _ = t.Value.(ast.Set)
	}
	if set == nil {
		return nil, fmt.Errorf("%s must be a set of reasons, got %v", rule, raw)
	}
	reasons := make([]Reason, 0, set.Len())
	for _, member := range set.Slice() {
		r, err := parseReason(policy, rule, member.Value)
		if err != nil {
			return nil, err
		}
		reasons = append(reasons, r)
	}
	return reasons, nil
}

func parseReason(policy, rule string, member ast.Value) (Reason, error) {
	obj, ok := member.(ast.Object)
	if !ok {
		return Reason{}, fmt.Errorf("each %s reason must be an object with msg, got %v", rule, member)
	}
	msg, ok := str(field(obj, "msg"))
	if !ok || msg == "" {
		return Reason{}, fmt.Errorf("a %s reason lacks a msg string: %v", rule, obj)
	}
	code, _ := str(field(obj, "code"))
	if rule == RuleRisk {
		return parseContribution(policy, code, msg, obj)
	}
	severity, err := parseSeverity(rule, field(obj, "severity"))
	if err != nil {
		return Reason{}, err
	}
	r := Reason{Policy: policy, Rule: rule, Code: code, Message: truncateMessage(msg), Severity: severity}
	if r.Weight, r.Threshold, err = parseScore(rule, obj); err != nil {
		return Reason{}, err
	}
	if r.Evidence, err = parseEvidence(rule, field(obj, "evidence")); err != nil {
		return Reason{}, err
	}
	return r, nil
}

// parseContribution reads a member of the risk rule set: a code, a msg and
// a weight >= 0, with optional evidence for exceptions to match.
func parseContribution(policy, code, msg string, obj ast.Object) (Reason, error) {
	weight, ok := number(field(obj, "weight"))
	if code == "" || !ok || weight < 0 {
		return Reason{}, fmt.Errorf("a risk contribution needs a code string and a number weight >= 0, got code %s and weight %s",
			show(field(obj, "code")), show(field(obj, "weight")))
	}
	evidence, err := parseEvidence(RuleRisk, field(obj, "evidence"))
	if err != nil {
		return Reason{}, err
	}
	return Reason{Policy: policy, Rule: RuleRisk, Code: code, Message: truncateMessage(msg), Weight: weight, Evidence: evidence}, nil
}

// parseEvidence reads a reason's evidence object: strings for ip, deviceID
// and country, a list of strings for relatedContractors.
func parseEvidence(rule string, raw ast.Value) (*ReasonEvidence, error) {
	if raw == nil {
		return nil, nil
	}
	obj, ok := raw.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("a %s reason's evidence must be an object, got %s", rule, ast.ValueName(raw))
	}
	e := &ReasonEvidence{}
	for _, f := range []struct {
		key  string
		into *string
	}{{"ip", &e.IP}, {"deviceID", &e.DeviceID}, {"country", &e.Country}} {
		if t := obj.Get(keyTerm(f.key)); t != nil {
			s, isString := str(t.Value)
			if !isString {
				return nil, fmt.Errorf("a %s reason's evidence.%s must be a string, got %v", rule, f.key, t)
			}
			*f.into = s
		}
	}
	if t := obj.Get(keyTerm("relatedContractors")); t != nil {
		list, err := stringList(t.Value)
		if err != nil {
			return nil, fmt.Errorf("a %s reason's evidence.relatedContractors must be a list of strings, got %v", rule, t)
		}
		e.RelatedContractors = list
	}
	return e, nil
}

// stringList reads an array or a set of strings (a set in its sorted order).
func stringList(v ast.Value) ([]string, error) {
	var items []*ast.Term
	switch v := v.(type) {
	case *ast.Array:
		for i := range v.Len() {
			items = append(items, v.Elem(i))
		}
	case ast.Set:
		items = v.Slice()
	default:
		return nil, errNotStrings
	}
	var out []string
	for _, item := range items {
		s, ok := str(item.Value)
		if !ok {
			return nil, errNotStrings
		}
		out = append(out, s)
	}
	return out, nil
}

var errNotStrings = errors.New("not a list of strings")

// parseScore reads a scored reason's weight and threshold: both or
// neither, a weight of at least zero and a positive threshold.
func parseScore(rule string, obj ast.Object) (weight, threshold float64, err error) {
	w := obj.Get(keyTerm("weight"))
	t := obj.Get(keyTerm("threshold"))
	if w == nil && t == nil {
		return 0, 0, nil
	}
	var okW, okT bool
	if w != nil {
		weight, okW = number(w.Value)
	}
	if t != nil {
		threshold, okT = number(t.Value)
	}
	if !okW || !okT || weight < 0 || threshold <= 0 {
		return 0, 0, fmt.Errorf("a scored %s reason needs a number weight >= 0 and a number threshold > 0, got weight %v and threshold %v", rule, w, t)
	}
	return weight, threshold, nil
}

func number(v ast.Value) (float64, bool) {
	n, ok := v.(ast.Number)
	if !ok {
		return 0, false
	}
	return n.Float64()
}

// parseSeverity checks a reason's severity; a missing one defaults to High
// for revoke and Medium for quarantine.
func parseSeverity(rule string, raw ast.Value) (accessv1alpha1.Severity, error) {
	if raw == nil {
		if rule == RuleRevoke {
			return accessv1alpha1.SeverityHigh, nil
		}
		return accessv1alpha1.SeverityMedium, nil
	}
	s, _ := str(raw)
	switch sev := accessv1alpha1.Severity(s); sev {
	case accessv1alpha1.SeverityInfo, accessv1alpha1.SeverityLow, accessv1alpha1.SeverityMedium,
		accessv1alpha1.SeverityHigh, accessv1alpha1.SeverityCritical:
		return sev, nil
	}
	return "", fmt.Errorf("a %s reason has severity %v; use Info, Low, Medium, High or Critical", rule, raw)
}

func truncateMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage-3] + "..."
}
