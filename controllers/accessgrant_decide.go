package controllers

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// decide asks the engine and logs the decision.
func (r *AccessGrantReconciler) decide(ctx context.Context, s *grantScope) error {
	start := time.Now()
	d, err := r.Engine.Decide(ctx, s.input)
	r.Metrics.DecisionDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("deciding: %w", err)
	}
	r.Metrics.Decisions.WithLabelValues(string(d.Action)).Inc()
	s.decision = &d
	if r.EvalErrors != nil {
		r.EvalErrors.Record(&d)
	}
	if err := r.DecisionLog.Log(grantKey(s.grant).String(), s.now, s.input, d, d.Revision); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Writing the decision log failed")
	}
	return nil
}

// desiredState is the state the grant's entitlement must be in. Revoked is
// terminal: once applied it stays, whatever later decisions say, and while
// the contractor carries a revocation record for the entitlement (recorded)
// every grant of it is Revoked. An expired grant's entitlement goes;
// extending spec.expiresAt brings it back.
func desiredState(g *accessv1alpha1.AccessGrant, action accessv1alpha1.DecisionAction, recorded bool, now time.Time) accessv1alpha1.GrantState {
	if appliedState(g) == accessv1alpha1.GrantRevoked || recorded {
		return accessv1alpha1.GrantRevoked
	}
	if g.ExpiredAt(now) {
		return accessv1alpha1.GrantExpired
	}
	switch action {
	case accessv1alpha1.ActionRevoke:
		return accessv1alpha1.GrantRevoked
	case accessv1alpha1.ActionQuarantine:
		return accessv1alpha1.GrantQuarantined
	}
	return accessv1alpha1.GrantActive
}

// appliedState is the state last applied, or Pending.
func appliedState(g *accessv1alpha1.AccessGrant) accessv1alpha1.GrantState {
	if g.Status.Enforcement == nil {
		return accessv1alpha1.GrantPending
	}
	return g.Status.Enforcement.State
}

// restrictive reports whether moving from applied to desired takes access
// away because of a decision: what the blast-radius guard counts.
func restrictive(applied, desired accessv1alpha1.GrantState) bool {
	if applied == desired {
		return false
	}
	return desired == accessv1alpha1.GrantRevoked ||
		(desired == accessv1alpha1.GrantQuarantined && applied != accessv1alpha1.GrantRevoked)
}

// plan sets the desired state and asks the guard about restrictive
// transitions. A grant the guard held stays held until a person releases
// it or its decision no longer restricts it.
func (r *AccessGrantReconciler) plan(ctx context.Context, s *grantScope) error {
	recorded, err := r.revocationRecorded(ctx, s)
	if err != nil {
		return err
	}
	s.recorded = recorded
	s.desired = desiredState(s.grant, s.decision.Action, s.recorded, s.now)
	if !restrictive(appliedState(s.grant), s.desired) || s.input.System.Spec.DryRun {
		return nil
	}
	admitted, err := r.guardAdmits(ctx, s)
	s.held = !admitted
	return err
}

// guardAdmits asks the blast-radius guard whether the grant may lose
// access now; a person's release annotation admits it. An admission is
// persisted before it is acted on; an error means it could not be, and
// the transition waits for a retry.
func (r *AccessGrantReconciler) guardAdmits(ctx context.Context, s *grantScope) (bool, error) {
	g := s.grant
	if err := r.Guard.Restore(ctx); err != nil {
		return false, err
	}
	if g.Annotations[accessv1alpha1.AnnotationGuardRelease] == "true" {
		s.released = true
		r.Guard.Record(grantKey(g).String())
		return true, r.Guard.Persist(ctx)
	}
	if enf := g.Status.Enforcement; enf != nil && enf.HeldSince != nil {
		return false, nil
	}
	admit := r.Guard.Admit
	if severe(s) {
		admit = r.Guard.AdmitSevere
	}
	total, err := r.countGrants(ctx)
	if err == nil && admit(grantKey(g).String(), total) {
		r.Metrics.GuardBudgetRemaining.Set(float64(r.Guard.Remaining(total)))
		return true, r.Guard.Persist(ctx)
	}
	r.Metrics.GuardHolds.Inc()
	return false, nil
}

// severe reports whether the grant's restriction rests on Critical evidence
// (a sanctioned country, a failed identity check) or on the contractor's
// revocation record: the guard keeps part of its budget for those.
func severe(s *grantScope) bool {
	if s.recorded {
		return true
	}
	if s.decision == nil {
		return false
	}
	for _, reason := range s.decision.Reasons {
		if reason.Severity == accessv1alpha1.SeverityCritical {
			return true
		}
	}
	return false
}

// countGrants counts the grants, for the guard's budget, from the cache.
// A count is used again for grantCountTTL: a bad push makes every grant a
// restrictive transition at once, and counting all N grants for each of
// them would cost N² copies, while a total a few seconds old moves the
// budget by a few grants at most.
func (r *AccessGrantReconciler) countGrants(ctx context.Context) (int, error) {
	r.grantCount.mu.Lock()
	defer r.grantCount.mu.Unlock()
	if c := &r.grantCount; !c.at.IsZero() && time.Since(c.at) < grantCountTTL {
		return c.n, nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("AccessGrantList"))
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("counting grants: %w", err)
	}
	r.grantCount.n, r.grantCount.at = len(list.Items), time.Now()
	return len(list.Items), nil
}

// grantCountTTL is how long a count of the grants is used again. It is
// measured on the machine's clock, not the reconciler's, which tests stop.
const grantCountTTL = 2 * time.Second

// grantCount is the latest count of the grants and when it was made.
type grantCount struct {
	mu sync.Mutex
	n  int
	at time.Time
}

// apiDecision converts the engine's decision for the grant's status. While
// the outcome (action and reasons) stays the same, the previous decision is
// kept whole, with the revision and time that first made it: a reconcile
// that changes nothing writes nothing, and a policy change costs writes
// only for the grants whose outcome it changes.
func apiDecision(d *policy.Decision, previous *accessv1alpha1.Decision, now time.Time) *accessv1alpha1.Decision {
	out := &accessv1alpha1.Decision{
		Action:         d.Action,
		Reasons:        apiReasons(d.Reasons),
		DryRunReasons:  apiReasons(d.DryRun),
		PolicyRevision: d.Revision,
		EvaluatedAt:    metav1.NewTime(now),
	}
	if previous != nil && sameOutcome(previous, out) {
		return previous.DeepCopy()
	}
	return out
}

func sameOutcome(a, b *accessv1alpha1.Decision) bool {
	return a.Action == b.Action && equality.Semantic.DeepEqual(a.Reasons, b.Reasons) &&
		equality.Semantic.DeepEqual(a.DryRunReasons, b.DryRunReasons)
}

// apiRisk converts the engine's risk for the grant's status.
func apiRisk(r *policy.Risk) *accessv1alpha1.Risk {
	if r == nil {
		return nil
	}
	out := &accessv1alpha1.Risk{Level: r.Level, Score: int32(math.Round(r.Score)), Policy: r.Policy}
	for _, c := range r.Contributions[:min(len(r.Contributions), 32)] {
		out.Contributions = append(out.Contributions, accessv1alpha1.RiskContribution{
			Code: truncate(c.Code, 128), Weight: int32(math.Round(c.Weight)), Message: c.Message})
	}
	return out
}

func apiReasons(reasons []policy.Reason) []accessv1alpha1.DecisionReason {
	if len(reasons) == 0 {
		return nil
	}
	out := make([]accessv1alpha1.DecisionReason, 0, min(len(reasons), 64))
	for _, r := range reasons[:min(len(reasons), 64)] {
		out = append(out, accessv1alpha1.DecisionReason{
			Policy: r.Policy, Rule: r.Rule, Code: r.Code, Message: r.Message, Severity: r.Severity,
		})
	}
	return out
}
