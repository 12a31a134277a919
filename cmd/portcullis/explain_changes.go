package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// explainedException says whether a PolicyException applied to the grant,
// why not, and which reasons it set aside or not, with the engine's own
// checks (policy.ExceptionMismatch, ExemptionMismatch, ContributionMismatch).
type explainedException struct {
	Name    string `json:"name"`
	Policy  string `json:"policy"`
	Applies bool   `json:"applies"`
	// WhyNot says why it does not apply to the grant.
	WhyNot        string          `json:"whyNot,omitempty"`
	Exempts       []string        `json:"exempts,omitempty"`
	DoesNotExempt []exemptionMiss `json:"doesNotExempt,omitempty"`
}

// exemptionMiss is a reason an applying exception leaves, and why.
type exemptionMiss struct {
	Reason string `json:"reason"`
	Why    string `json:"why"`
}

func explainExceptions(in policy.Input, d policy.Decision, maxLifetime time.Duration) []explainedException {
	out := make([]explainedException, 0, len(in.Exceptions))
	for i := range in.Exceptions {
		e := &in.Exceptions[i]
		x := explainedException{Name: e.Name, Policy: e.Spec.Policy, WhyNot: policy.ExceptionMismatch(e, &in, maxLifetime)}
		x.Applies = x.WhyNot == ""
		if x.Applies {
			x.Exempts, x.DoesNotExempt = exemptions(e, d)
		}
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// exemptions lists the reasons an applying exception set aside, and why it
// left each other reason and counted risk contribution.
func exemptions(e *accessv1alpha1.PolicyException, d policy.Decision) ([]string, []exemptionMiss) {
	var exempts []string
	var misses []exemptionMiss
	for _, r := range d.Exempted {
		switch {
		case r.Exception == e.Name:
			exempts = append(exempts, reasonName(r))
		case policy.ExemptionMismatch(&e.Spec, r) == "":
			misses = append(misses, exemptionMiss{reasonName(r), "covers it too, but " + r.Exception + " set it aside first"})
		}
	}
	for _, list := range [][]policy.Reason{d.Reasons, d.DryRun, d.Warnings} {
		for _, r := range list {
			why := policy.ExemptionMismatch(&e.Spec, r)
			if why == "" && r.Code == policy.CodePolicyError {
				why = "a policy that failed to evaluate is never exempted"
			}
			misses = append(misses, exemptionMiss{reasonName(r), why})
		}
	}
	if d.Risk != nil {
		for _, c := range d.Risk.Contributions {
			misses = append(misses, exemptionMiss{"risk contribution " + c.Policy + " " + c.Code, policy.ContributionMismatch(&e.Spec, c)})
		}
	}
	return exempts, misses
}

// reasonName is "policy/rule code".
func reasonName(r policy.Reason) string {
	return fmt.Sprintf("%s/%s %s", r.Policy, r.Rule, r.Code)
}

// outcomeChanges are what would change the outcome, derived from deciding
// again without the evidence.
type outcomeChanges struct {
	Reasons []reasonChange `json:"reasons,omitempty"`
	Scores  []scoreChange  `json:"scores,omitempty"`
	// WithoutOne are the single Findings or checks whose absence alone
	// changes the action.
	WithoutOne []actionWithout `json:"withoutOne,omitempty"`
	// WithoutAll is the action without the evidence of every acting reason.
	WithoutAll *actionWithout `json:"withoutAll,omitempty"`
}

// reasonChange names the evidence that would take a reason away.
type reasonChange struct {
	Reason  string   `json:"reason"`
	Resolve []string `json:"resolve,omitempty"`
	// Note is set when no Finding or check takes the reason away.
	Note string `json:"note,omitempty"`
}

// scoreChange is how far a score that acts is above its threshold.
type scoreChange struct {
	Policy    string  `json:"policy"`
	Rule      string  `json:"rule"`
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	// Enough are the contributions any one of which, taken away, brings the
	// score below the threshold.
	Enough []string `json:"enough,omitempty"`
}

// actionWithout is the action of a decision without some evidence.
type actionWithout struct {
	Without   []string                      `json:"without"`
	Action    accessv1alpha1.DecisionAction `json:"action"`
	Remaining []string                      `json:"remaining,omitempty"`
}

// changes derives what would change action, the decision of reasons.
func (w *whatIf) changes(ctx context.Context, action accessv1alpha1.DecisionAction, reasons []explainedReason) (outcomeChanges, error) {
	var out outcomeChanges
	var all []evidenceItem
	for _, r := range reasons {
		change, items := resolution(r)
		out.Reasons = append(out.Reasons, change)
		for _, item := range items {
			if !containsItem(all, item) {
				all = append(all, item)
			}
		}
	}
	out.Scores = scoreChanges(reasons)
	for i, item := range w.items {
		if w.without[i].Action != action {
			out.WithoutOne = append(out.WithoutOne, actionWithout{Without: []string{itemName(item)}, Action: w.without[i].Action})
		}
	}
	if len(all) == 0 {
		return out, nil
	}
	d, err := w.src.decide(ctx, without(w.src.input, all))
	if err != nil {
		return out, err
	}
	out.WithoutAll = &actionWithout{Action: d.Action}
	for _, item := range all {
		out.WithoutAll.Without = append(out.WithoutAll.Without, itemName(item))
	}
	for _, r := range d.Reasons {
		out.WithoutAll.Remaining = append(out.WithoutAll.Remaining, reasonName(r)+": "+r.Message)
	}
	return out, nil
}

// resolution names what takes a reason away: its necessary evidence, or
// else all it is named by.
func resolution(r explainedReason) (reasonChange, []evidenceItem) {
	change := reasonChange{Reason: reasonName(r.Reason)}
	var items []evidenceItem
	for _, item := range r.RestsOn {
		if item.Necessary {
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		for _, item := range r.RestsOn {
			if item.Named {
				items = append(items, item)
			}
		}
	}
	for _, item := range items {
		change.Resolve = append(change.Resolve, resolveText(item))
	}
	if len(items) == 0 {
		change.Note = "no single Finding or verification check is necessary for it: it follows from several together, or from the contractor's, grant's or system's spec"
	}
	return change, items
}

func resolveText(item evidenceItem) string {
	if item.Kind == kindCheck {
		return fmt.Sprintf("verification check %s (%s, %s): renew or settle it", item.Name, item.Key, item.Result)
	}
	if item.ExpiresAt == nil {
		return fmt.Sprintf("Finding %s: resolve and delete it (it does not expire)", item.Name)
	}
	return fmt.Sprintf("Finding %s: resolve and delete it, or it expires at %s", item.Name, item.ExpiresAt.Format(time.RFC3339))
}

func itemName(item evidenceItem) string {
	if item.Kind == kindCheck {
		return "verification check " + item.Name
	}
	return "Finding " + item.Name
}

func containsItem(items []evidenceItem, item evidenceItem) bool {
	for _, i := range items {
		if i.Kind == item.Kind && i.index == item.index {
			return true
		}
	}
	return false
}

// scoreChanges adds up each acting score as the engine does (the heaviest
// reason of each code of one policy, rule and threshold) and names the
// contributions that alone would bring it below its threshold.
func scoreChanges(reasons []explainedReason) []scoreChange {
	type group struct {
		policy, rule string
		threshold    float64
	}
	heaviest := map[group]map[string]float64{}
	var order []group
	for _, r := range reasons {
		if r.Threshold <= 0 {
			continue
		}
		g := group{r.Policy, r.Rule, r.Threshold}
		if heaviest[g] == nil {
			heaviest[g] = map[string]float64{}
			order = append(order, g)
		}
		heaviest[g][r.Code] = math.Max(heaviest[g][r.Code], r.Weight)
	}
	out := make([]scoreChange, 0, len(order))
	for _, g := range order {
		s := scoreChange{Policy: g.policy, Rule: g.rule, Threshold: g.threshold}
		for _, w := range heaviest[g] {
			s.Score += w
		}
		for code, w := range heaviest[g] {
			if s.Score-w < g.threshold {
				s.Enough = append(s.Enough, fmt.Sprintf("%s +%g", code, w))
			}
		}
		sort.Strings(s.Enough)
		out = append(out, s)
	}
	return out
}
