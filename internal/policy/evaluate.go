package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// maxMessage bounds a reason's message, as the API does.
const maxMessage = 1024

// evaluate runs one policy's prepared query within the engine's deadline and
// parses its reasons.
func (e *OPAEngine) evaluate(ctx context.Context, c *compiled, input ast.Value, now time.Time) policyResult {
	if c.broken != nil {
		return policyResult{policy: c.policy, err: fmt.Errorf("it has no version that compiles: %w", c.broken)}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	rs, err := c.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTime(now))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("evaluation exceeded its deadline of %s", e.timeout)
		}
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

// parseReasons checks and converts the members of one rule set.
func parseReasons(policy, rule string, raw any) ([]Reason, error) {
	set, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a set of reasons, got %T", rule, raw)
	}
	reasons := make([]Reason, 0, len(set))
	for _, member := range set {
		r, err := parseReason(policy, rule, member)
		if err != nil {
			return nil, err
		}
		reasons = append(reasons, r)
	}
	return reasons, nil
}

func parseReason(policy, rule string, member any) (Reason, error) {
	obj, ok := member.(map[string]any)
	if !ok {
		return Reason{}, fmt.Errorf("each %s reason must be an object with msg, got %v", rule, member)
	}
	msg, ok := obj["msg"].(string)
	if !ok || msg == "" {
		return Reason{}, fmt.Errorf("a %s reason lacks a msg string: %v", rule, obj)
	}
	code, _ := obj["code"].(string)
	if rule == RuleRisk {
		return parseContribution(policy, code, msg, obj)
	}
	severity, err := parseSeverity(rule, obj["severity"])
	if err != nil {
		return Reason{}, err
	}
	r := Reason{Policy: policy, Rule: rule, Code: code, Message: truncateMessage(msg), Severity: severity}
	if r.Weight, r.Threshold, err = parseScore(rule, obj); err != nil {
		return Reason{}, err
	}
	if r.Evidence, err = parseEvidence(rule, obj["evidence"]); err != nil {
		return Reason{}, err
	}
	return r, nil
}

// parseContribution reads a member of the risk rule set: a code, a msg and
// a weight >= 0, with optional evidence for exceptions to match.
func parseContribution(policy, code, msg string, obj map[string]any) (Reason, error) {
	weight, ok := number(obj["weight"])
	if code == "" || !ok || weight < 0 {
		return Reason{}, fmt.Errorf("a risk contribution needs a code string and a number weight >= 0, got code %v and weight %v", obj["code"], obj["weight"])
	}
	evidence, err := parseEvidence(RuleRisk, obj["evidence"])
	if err != nil {
		return Reason{}, err
	}
	return Reason{Policy: policy, Rule: RuleRisk, Code: code, Message: truncateMessage(msg), Weight: weight, Evidence: evidence}, nil
}

// parseEvidence reads a reason's evidence object: strings for ip, deviceID
// and country, a list of strings for relatedContractors.
func parseEvidence(rule string, raw any) (*ReasonEvidence, error) {
	if raw == nil {
		return nil, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a %s reason's evidence must be an object, got %T", rule, raw)
	}
	e := &ReasonEvidence{}
	for key, field := range map[string]*string{"ip": &e.IP, "deviceID": &e.DeviceID, "country": &e.Country} {
		if v, ok := obj[key]; ok {
			s, isString := v.(string)
			if !isString {
				return nil, fmt.Errorf("a %s reason's evidence.%s must be a string, got %v", rule, key, v)
			}
			*field = s
		}
	}
	if v, ok := obj["relatedContractors"]; ok {
		list, isList := v.([]any)
		for _, item := range list {
			s, isString := item.(string)
			if !isString {
				isList = false
				break
			}
			e.RelatedContractors = append(e.RelatedContractors, s)
		}
		if !isList {
			return nil, fmt.Errorf("a %s reason's evidence.relatedContractors must be a list of strings, got %v", rule, v)
		}
	}
	return e, nil
}

// parseScore reads a scored reason's weight and threshold: both or
// neither, a weight of at least zero and a positive threshold.
func parseScore(rule string, obj map[string]any) (weight, threshold float64, err error) {
	w, hasW := obj["weight"]
	t, hasT := obj["threshold"]
	if !hasW && !hasT {
		return 0, 0, nil
	}
	weight, okW := number(w)
	threshold, okT := number(t)
	if !hasW || !hasT || !okW || !okT || weight < 0 || threshold <= 0 {
		return 0, 0, fmt.Errorf("a scored %s reason needs a number weight >= 0 and a number threshold > 0, got weight %v and threshold %v", rule, w, t)
	}
	return weight, threshold, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// parseSeverity checks a reason's severity; a missing one defaults to High
// for revoke and Medium for quarantine.
func parseSeverity(rule string, raw any) (accessv1alpha1.Severity, error) {
	if raw == nil {
		if rule == RuleRevoke {
			return accessv1alpha1.SeverityHigh, nil
		}
		return accessv1alpha1.SeverityMedium, nil
	}
	s, _ := raw.(string)
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
