package policy

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Policy is one AccessPolicy as the engine sees it.
type Policy struct {
	// Name is the AccessPolicy's name; reasons and errors carry it.
	Name string
	// Source is the Rego v1 module.
	Source string
	// File, when set, is where the source came from; compile errors are
	// reported as File:line:col instead of Name:line:col.
	File string
	// Action is enforce, dryrun or warn; empty means enforce.
	Action accessv1alpha1.EnforcementAction
	// FailurePolicy is Quarantine or Ignore; empty means Quarantine.
	FailurePolicy accessv1alpha1.FailurePolicy
	// Contractors selects the contractors the policy applies to; nil means all.
	Contractors labels.Selector
	// SystemTypes limits the policy to these system types; empty means all.
	SystemTypes []accessv1alpha1.SystemType
}

// FromAPI builds a Policy from an AccessPolicy and its resolved source.
func FromAPI(p *accessv1alpha1.AccessPolicy, source string) (Policy, error) {
	out := Policy{
		Name:          p.Name,
		Source:        source,
		Action:        p.Spec.EnforcementAction,
		FailurePolicy: p.Spec.FailurePolicy,
		SystemTypes:   p.Spec.SystemTypes,
	}
	if p.Spec.ContractorSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.ContractorSelector)
		if err != nil {
			return Policy{}, &CompileError{Policy: p.Name, Problems: []string{
				fmt.Sprintf("%s: spec.contractorSelector: %v", p.Name, err)}}
		}
		out.Contractors = sel
	}
	return out, nil
}

func (p Policy) action() accessv1alpha1.EnforcementAction {
	if p.Action == "" {
		return accessv1alpha1.EnforcementEnforce
	}
	return p.Action
}

func (p Policy) failurePolicy() accessv1alpha1.FailurePolicy {
	if p.FailurePolicy == "" {
		return accessv1alpha1.FailureQuarantine
	}
	return p.FailurePolicy
}

// appliesTo reports whether the policy selects this contractor and system.
func (p Policy) appliesTo(in *Input) bool {
	if p.Contractors != nil && !p.Contractors.Matches(labels.Set(in.Contractor.Labels)) {
		return false
	}
	return len(p.SystemTypes) == 0 || slices.Contains(p.SystemTypes, in.System.Spec.Type)
}

// Input is everything a decision about one grant depends on. Gatherers (the
// controller, `portcullis eval`) fill it; the engine filters out expired
// findings and exceptions, so both decide alike.
type Input struct {
	Contractor *accessv1alpha1.Contractor
	Grant      *accessv1alpha1.AccessGrant
	System     *accessv1alpha1.ConnectedSystem
	// Findings are the contractor's findings; expired ones are ignored.
	Findings []accessv1alpha1.Finding
	// Exceptions are candidate exceptions in the grant's namespace; only the
	// unexpired ones that name this contractor or grant apply.
	Exceptions []accessv1alpha1.PolicyException
	// Now is the decision time. Policies read it as input.now; they never
	// read the clock.
	Now time.Time
}

// Reason is one reason a policy gave, or an evaluation error as a reason.
type Reason struct {
	Policy   string                  `json:"policy"`
	Rule     string                  `json:"rule"`
	Code     string                  `json:"code,omitempty"`
	Message  string                  `json:"message"`
	Severity accessv1alpha1.Severity `json:"severity"`
	// Weight and Threshold make the reason one contribution to a score:
	// the policy's reasons of one rule with one threshold act only while
	// the weights of those that no exception exempts add up to it.
	Weight    float64 `json:"weight,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// Evidence is what the reason rests on, for exceptions limited to
	// evidence (PolicyException spec.evidence).
	Evidence *ReasonEvidence `json:"evidence,omitempty"`
	// Exception names the PolicyException that exempted the reason, if any.
	Exception string `json:"exception,omitempty"`
}

// ReasonEvidence is the evidence a reason names: a policy sets it with an
// "evidence" object of the same fields.
type ReasonEvidence struct {
	IP                 string   `json:"ip,omitempty"`
	DeviceID           string   `json:"deviceID,omitempty"`
	Country            string   `json:"country,omitempty"`
	RelatedContractors []string `json:"relatedContractors,omitempty"`
}

// CodePolicyError is the code of a reason that stands for a policy that
// failed to evaluate.
const CodePolicyError = "PolicyError"

// Decision is the outcome for one grant.
type Decision struct {
	// Action is the most severe action among the non-exempt reasons of
	// enforcing policies.
	Action accessv1alpha1.DecisionAction `json:"action"`
	// Reasons are the non-exempt reasons of enforcing policies.
	Reasons []Reason `json:"reasons,omitempty"`
	// DryRun are the non-exempt reasons of dryrun policies: what would be done.
	DryRun []Reason `json:"dryRun,omitempty"`
	// Warnings are the non-exempt reasons of warn policies, and the errors of
	// policies whose failurePolicy is Ignore.
	Warnings []Reason `json:"warnings,omitempty"`
	// Exempted are the reasons that an exception set aside.
	Exempted []Reason `json:"exempted,omitempty"`
	// Risk is the contractor's risk as the policies' risk rule sets weigh
	// it; never nil from Decide.
	Risk *Risk `json:"risk,omitempty"`
	// Revision identifies the policy set and data that decided.
	Revision string `json:"revision"`
}

// DryRunAction is the action the dryrun policies' reasons would have taken.
func (d Decision) DryRunAction() accessv1alpha1.DecisionAction {
	return mostSevere(d.DryRun)
}

// ruleAction maps a rule set to its action.
func ruleAction(rule string) accessv1alpha1.DecisionAction {
	if rule == RuleRevoke {
		return accessv1alpha1.ActionRevoke
	}
	return accessv1alpha1.ActionQuarantine
}

func mostSevere(reasons []Reason) accessv1alpha1.DecisionAction {
	action := accessv1alpha1.ActionAllow
	for _, r := range reasons {
		if ruleAction(r.Rule) == accessv1alpha1.ActionRevoke {
			return accessv1alpha1.ActionRevoke
		}
		action = accessv1alpha1.ActionQuarantine
	}
	return action
}
