package controllers

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// errNoAccount marks an enforcement that failed because the contractor has
// no account on the system: the user must fix the Contractor.
var errNoAccount = errors.New("no account")

// computeStatus sets the grant's whole status from the scope: the one place
// where it is computed.
func (r *AccessGrantReconciler) computeStatus(s *grantScope) {
	g := s.grant
	now := metav1.NewTime(s.now)
	refs := condition(accessv1alpha1.ConditionReferencesResolved, true, accessv1alpha1.ReasonResolved,
		fmt.Sprintf("Contractor %q and ConnectedSystem %q exist", g.Spec.ContractorRef.Name, g.Spec.SystemRef.Name), g.Generation)
	if s.missing != nil {
		refs = *s.missing
		refs.Type = accessv1alpha1.ConditionReferencesResolved
	}
	if s.decision != nil {
		g.Status.Decision = apiDecision(s.decision, s.before.Status.Decision, s.now)
		g.Status.Risk = apiRisk(s.decision.Risk)
	}
	setConditions(&g.Status.Conditions, now, refs, readyCondition(s, refs))
	g.Status.ObservedGeneration = g.Generation
}

// readyCondition summarises the grant: True once its entitlement is in the
// decided state, False with the reason why not.
func readyCondition(s *grantScope, refs metav1.Condition) metav1.Condition {
	gen := s.grant.Generation
	ready := func(ok bool, reason, msg string) metav1.Condition {
		return condition(accessv1alpha1.ConditionReady, ok, reason, msg, gen)
	}
	switch {
	case s.missing != nil:
		return ready(false, refs.Reason, refs.Message)
	case s.refused != nil && s.held:
		return ready(false, accessv1alpha1.ReasonHeldByGuard, fmt.Sprintf(
			"%s; the blast-radius guard holds the withdrawal of what the grant holds: more grants than the budget would lose access at once. "+
				"Check the ConnectedSystem's lists, then release it with `kubectl annotate accessgrant %s -n %s %s=true`",
			truncate(s.refused.Error(), 600), s.grant.Name, s.grant.Namespace, accessv1alpha1.AnnotationGuardRelease))
	case s.refused != nil:
		msg := truncate(s.refused.Error(), 600) + "; the grant is not enforced and holds nothing in the system"
		if s.enforceErr != nil {
			msg = truncate(s.refused.Error(), 600) + "; removing what the grant held failed, retrying: " + truncate(s.enforceErr.Error(), 400)
		}
		if errors.Is(s.refused, errSystemDeleting) {
			return ready(false, accessv1alpha1.ReasonSystemDeleting, msg)
		}
		return ready(false, accessv1alpha1.ReasonEntitlementNotAllowed, msg)
	case s.decisionErr != nil:
		return ready(false, accessv1alpha1.ReasonDecisionFailed, truncate(s.decisionErr.Error(), 1024))
	case s.held:
		return ready(false, accessv1alpha1.ReasonHeldByGuard, fmt.Sprintf(
			"the blast-radius guard holds this %s: more grants than the budget would lose access at once. "+
				"Check the policies and findings, then release it with `kubectl annotate accessgrant %s -n %s %s=true`",
			transitionWord(s.desired), s.grant.Name, s.grant.Namespace, accessv1alpha1.AnnotationGuardRelease))
	case errors.Is(s.enforceErr, errNoAccount):
		return ready(false, accessv1alpha1.ReasonNoAccount, truncate(s.enforceErr.Error(), 1024))
	case s.enforceErr != nil:
		return ready(false, accessv1alpha1.ReasonEnforcementFailed, fmt.Sprintf(
			"applying %s in %s failed (attempt %d, retrying with backoff): %s", s.desired, s.input.System.Name,
			s.grant.Status.Enforcement.Attempts, truncate(s.enforceErr.Error(), 900)))
	case s.input.System.Spec.DryRun:
		return ready(true, accessv1alpha1.ReasonDryRun, fmt.Sprintf(
			"ConnectedSystem %s is in dry-run mode: the entitlement would be %s; nothing was changed", s.input.System.Name, s.desired))
	}
	return ready(true, accessv1alpha1.ReasonEnforced, fmt.Sprintf("%s in %s%s", s.desired, s.input.System.Name, reasonSummary(s)))
}

func reasonSummary(s *grantScope) string {
	if s.decision == nil || len(s.decision.Reasons) == 0 {
		return ""
	}
	codes := make([]string, 0, len(s.decision.Reasons))
	for _, r := range s.decision.Reasons {
		codes = append(codes, r.Policy+"/"+r.Code)
	}
	return " (" + strings.Join(codes, ", ") + ")"
}

func transitionWord(state accessv1alpha1.GrantState) string {
	switch state {
	case accessv1alpha1.GrantRevoked:
		return "revocation"
	case accessv1alpha1.GrantPending:
		return "withdrawal"
	}
	return "quarantine"
}

func equalDecision(a, b *accessv1alpha1.Decision) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// emitEvents records an Event for every transition this reconcile made,
// and observes how long findings took to take effect.
func (r *AccessGrantReconciler) emitEvents(s *grantScope) {
	g, before := s.grant, s.before
	oldState, newState := appliedState(before), appliedState(g)
	switch {
	case s.held && (before.Status.Enforcement == nil || before.Status.Enforcement.HeldSince == nil):
		r.Recorder.Eventf(g, nil, "Warning", accessv1alpha1.ReasonHeldByGuard, "Guard",
			"the blast-radius guard holds this %s until a person releases it", transitionWord(s.desired))
	case s.refused != nil && s.applied:
		r.Recorder.Eventf(g, nil, "Warning", accessv1alpha1.ReasonEntitlementNotAllowed, "Withdraw",
			"%s: %s", s.detail, sanitize(s.refused.Error()))
	case s.enforceErr != nil:
		r.Recorder.Eventf(g, nil, "Warning", accessv1alpha1.ReasonEnforcementFailed, "Enforce",
			"applying %s failed: %s", s.desired, sanitize(s.enforceErr.Error()))
	case oldState != newState && newState != accessv1alpha1.GrantPending:
		// announce has created it before the status was written, or
		// skipped a first activation, which is no news.
	case s.applied:
		r.Recorder.Eventf(g, nil, "Normal", "DriftRepaired", "Enforce", "%s", s.detail)
	}
	if s.decision != nil && len(s.decision.Warnings) > 0 && decisionChanged(s) {
		r.Recorder.Eventf(g, nil, "Warning", "PolicyWarning", "Decide", "%s", sanitize(describeReasons(s.decision.Warnings)))
	}
}

func (r *AccessGrantReconciler) observeLatency(s *grantScope) {
	for _, seen := range r.Findings.take(s.input.Findings) {
		r.Metrics.FindingToEnforcement.Observe(s.now.Sub(seen).Seconds())
	}
}

func decisionChanged(s *grantScope) bool {
	return s.before.Status.Decision == nil || !equalDecision(s.before.Status.Decision, s.grant.Status.Decision)
}

func eventType(state accessv1alpha1.GrantState) string {
	if state == accessv1alpha1.GrantActive {
		return "Normal"
	}
	return "Warning"
}

func transitionPrefix(g *accessv1alpha1.AccessGrant) string {
	if g.Status.Enforcement != nil && g.Status.Enforcement.DryRun {
		return "dry run, would be "
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func describeReasons(reasons []policy.Reason) string {
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s/%s: %s", r.Policy, r.Code, r.Message))
	}
	return strings.Join(parts, "; ")
}
