package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// explanation is what portcullis explain prints, -o json as it is.
type explanation struct {
	Grant      string                        `json:"grant"`
	Contractor string                        `json:"contractor"`
	System     string                        `json:"system"`
	Source     string                        `json:"source"`
	Now        time.Time                     `json:"now"`
	Revision   string                        `json:"revision"`
	Action     accessv1alpha1.DecisionAction `json:"action"`
	// Policies are those whose reasons make the action.
	Policies   []string             `json:"policies,omitempty"`
	Reasons    []explainedReason    `json:"reasons,omitempty"`
	DryRun     []explainedReason    `json:"dryRun,omitempty"`
	Warnings   []explainedReason    `json:"warnings,omitempty"`
	Exempted   []explainedReason    `json:"exempted,omitempty"`
	Risk       explainedRisk        `json:"risk"`
	Exceptions []explainedException `json:"exceptions,omitempty"`
	Guard      string               `json:"guard"`
	Changes    outcomeChanges       `json:"changes"`
	Recorded   *recordedStatus      `json:"recorded,omitempty"`
}

// explainedReason is a reason with the evidence it rests on.
type explainedReason struct {
	policy.Reason
	RestsOn []evidenceItem `json:"restsOn,omitempty"`
}

// evidenceItem is a Finding or verification check a reason rests on:
// Named when the reason's evidence matches it, Necessary when the reason
// is not given without it.
type evidenceItem struct {
	Kind      string     `json:"kind"`
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Severity  string     `json:"severity,omitempty"`
	Result    string     `json:"result,omitempty"`
	Key       string     `json:"key,omitempty"`
	Observed  *time.Time `json:"observed,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Named     bool       `json:"named"`
	Necessary bool       `json:"necessary"`
	// index is the item's place in the input's findings or checks.
	index int
}

// explainedRisk is the decision's risk with each contribution's evidence.
type explainedRisk struct {
	Level         accessv1alpha1.RiskLevel `json:"level"`
	Score         float64                  `json:"score"`
	Policy        string                   `json:"policy,omitempty"`
	Contributions []explainedReason        `json:"contributions,omitempty"`
}

// Kinds of evidence items.
const (
	kindFinding = "Finding"
	kindCheck   = "VerificationCheck"
)

// explain decides the source's grant and explains the decision.
func explain(ctx context.Context, src *explainSource) (*explanation, error) {
	in := src.input
	d, err := src.decide(ctx, in)
	if err != nil {
		return nil, err
	}
	w, err := newWhatIf(ctx, src, d)
	if err != nil {
		return nil, err
	}
	exp := &explanation{
		Grant: grantKeyOf(in.Grant), Contractor: in.Contractor.Name, System: in.System.Name,
		Source: "files", Now: in.Now, Revision: d.Revision, Action: d.Action,
		Policies: actingPolicies(d), Guard: offlineNote,
		Reasons: w.explainAll(d.Reasons), DryRun: w.explainAll(d.DryRun),
		Warnings: w.explainAll(d.Warnings), Exempted: w.explainAll(d.Exempted),
		Risk:       w.explainRisk(d.Risk),
		Exceptions: explainExceptions(in, d, maxExceptionLifetime(src.engine)),
	}
	if exp.Changes, err = w.changes(ctx, d.Action, exp.Reasons); err != nil {
		return nil, err
	}
	if src.cluster {
		exp.Source = "cluster"
		exp.Guard = guardView(in.Grant)
		exp.Recorded = recorded(in.Grant, d)
	}
	return exp, nil
}

// actingPolicies are the policies whose reasons make the action.
func actingPolicies(d policy.Decision) []string {
	var out []string
	for _, r := range d.Reasons {
		if !slices.Contains(out, r.Policy) {
			out = append(out, r.Policy)
		}
	}
	sort.Strings(out)
	return out
}

// whatIf decides the grant again without each Finding and verification
// check, to find what each reason needs.
type whatIf struct {
	src      *explainSource
	decision policy.Decision
	items    []evidenceItem
	without  []policy.Decision // by item
}

func newWhatIf(ctx context.Context, src *explainSource, d policy.Decision) (*whatIf, error) {
	w := &whatIf{src: src, decision: d}
	in := src.input
	for i := range in.Findings {
		f := &in.Findings[i]
		if f.ExpiredAt(in.Now) {
			continue // the engine ignores it too
		}
		w.items = append(w.items, findingItem(f, i))
	}
	for i := range in.Contractor.Spec.VerificationChecks {
		if c := &in.Contractor.Spec.VerificationChecks[i]; adverse(c, in.Now) {
			w.items = append(w.items, checkItem(c, i))
		}
	}
	for _, item := range w.items {
		alt, err := src.decide(ctx, without(in, []evidenceItem{item}))
		if err != nil {
			return nil, err
		}
		w.without = append(w.without, alt)
	}
	return w, nil
}

// adverse reports whether a verification check can count against the
// contractor: it has not passed, or its result has expired. Taking away a
// passed check only ever weakens the contractor's case.
func adverse(c *accessv1alpha1.VerificationCheck, now time.Time) bool {
	return c.Result != accessv1alpha1.VerificationPassed || (c.ExpiresAt != nil && !now.Before(c.ExpiresAt.Time))
}

func findingItem(f *accessv1alpha1.Finding, index int) evidenceItem {
	item := evidenceItem{Kind: kindFinding, Name: f.Name, Type: string(f.Spec.Type), Severity: string(f.Spec.Severity), Key: f.Spec.Key, index: index}
	if f.Spec.AnonymizerKind != "" {
		item.Type += " " + string(f.Spec.AnonymizerKind)
	}
	switch {
	case f.Spec.LastSeen != nil:
		item.Observed = timeOf(f.Spec.LastSeen.Time)
	case f.Spec.FirstSeen != nil:
		item.Observed = timeOf(f.Spec.FirstSeen.Time)
	}
	if f.Spec.ExpiresAt != nil {
		item.ExpiresAt = timeOf(f.Spec.ExpiresAt.Time)
	}
	return item
}

func checkItem(c *accessv1alpha1.VerificationCheck, index int) evidenceItem {
	item := evidenceItem{Kind: kindCheck, Name: fmt.Sprintf("%s #%d", c.Type, index+1), Type: string(c.Type), Result: string(c.Result), Key: c.Provider, index: index}
	if c.CompletedAt != nil {
		item.Observed = timeOf(c.CompletedAt.Time)
	}
	if c.ExpiresAt != nil {
		item.ExpiresAt = timeOf(c.ExpiresAt.Time)
	}
	return item
}

func timeOf(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

// without returns a copy of in lacking the items' Findings and checks.
func without(in policy.Input, items []evidenceItem) policy.Input {
	drop := map[string]map[int]bool{kindFinding: {}, kindCheck: {}}
	for _, item := range items {
		drop[item.Kind][item.index] = true
	}
	out := in
	out.Findings = nil
	for i, f := range in.Findings {
		if !drop[kindFinding][i] {
			out.Findings = append(out.Findings, f)
		}
	}
	c := in.Contractor.DeepCopy()
	c.Spec.VerificationChecks = nil
	for i, check := range in.Contractor.Spec.VerificationChecks {
		if !drop[kindCheck][i] {
			c.Spec.VerificationChecks = append(c.Spec.VerificationChecks, check)
		}
	}
	out.Contractor = c
	return out
}

func (w *whatIf) explainAll(reasons []policy.Reason) []explainedReason {
	out := make([]explainedReason, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, w.explainOne(r, func(d policy.Decision) bool { return gives(d, r) }))
	}
	return out
}

// severity orders actions: Allow, Quarantine, Revoke.
func severity(a accessv1alpha1.DecisionAction) int {
	return slices.Index([]accessv1alpha1.DecisionAction{accessv1alpha1.ActionAllow, accessv1alpha1.ActionQuarantine, accessv1alpha1.ActionRevoke}, a)
}

// explainOne finds what r rests on: the Findings its evidence names and
// the Findings and checks without which it is not given, unless their
// absence makes the action more severe. given reports whether a decision
// holds r.
func (w *whatIf) explainOne(r policy.Reason, given func(policy.Decision) bool) explainedReason {
	out := explainedReason{Reason: r}
	for i, item := range w.items {
		item.Named = item.Kind == kindFinding && names(r.Evidence, &w.src.input.Findings[item.index])
		item.Necessary = !given(w.without[i]) && severity(w.without[i].Action) <= severity(w.decision.Action)
		if item.Named || item.Necessary {
			out.RestsOn = append(out.RestsOn, item)
		}
	}
	return out
}

// gives reports whether d holds a reason like r in any of its lists. A
// scored reason's message carries the score, which changes with the
// evidence, so it is matched without its message.
func gives(d policy.Decision, r policy.Reason) bool {
	for _, list := range [][]policy.Reason{d.Reasons, d.DryRun, d.Warnings, d.Exempted} {
		if slices.ContainsFunc(list, func(o policy.Reason) bool { return sameReason(o, r) }) {
			return true
		}
	}
	return false
}

func sameReason(a, b policy.Reason) bool {
	if a.Policy != b.Policy || a.Rule != b.Rule || a.Code != b.Code || !sameEvidence(a.Evidence, b.Evidence) {
		return false
	}
	return a.Threshold > 0 || a.Message == b.Message
}

func sameEvidence(a, b *policy.ReasonEvidence) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.IP == b.IP && a.DeviceID == b.DeviceID && a.Country == b.Country && slices.Equal(a.RelatedContractors, b.RelatedContractors)
}

// names reports whether a reason's evidence names the Finding: every value
// it sets is the Finding's, and it sets one at least.
func names(e *policy.ReasonEvidence, f *accessv1alpha1.Finding) bool {
	if e == nil || (e.IP == "" && e.DeviceID == "" && e.Country == "" && len(e.RelatedContractors) == 0) {
		return false
	}
	fe := f.Spec.Evidence
	match := func(want, got string) bool { return want == "" || want == got }
	if !match(e.IP, fe.IP) || !match(e.DeviceID, fe.DeviceID) || !match(e.Country, string(fe.Country)) {
		return false
	}
	for _, name := range e.RelatedContractors {
		if !slices.Contains(fe.RelatedContractors, name) {
			return false
		}
	}
	return true
}

func (w *whatIf) explainRisk(r *policy.Risk) explainedRisk {
	out := explainedRisk{Level: accessv1alpha1.RiskNone}
	if r == nil {
		return out
	}
	out.Level, out.Score, out.Policy = r.Level, r.Score, r.Policy
	for _, c := range r.Contributions {
		out.Contributions = append(out.Contributions, w.explainOne(c, func(d policy.Decision) bool {
			return d.Risk != nil && slices.ContainsFunc(d.Risk.Contributions, func(o policy.Reason) bool {
				return o.Policy == c.Policy && o.Code == c.Code && sameEvidence(o.Evidence, c.Evidence)
			})
		}))
	}
	return out
}
