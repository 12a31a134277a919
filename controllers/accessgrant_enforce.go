package controllers

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// enforce applies the planned state through the system's connector and
// records the outcome in the grant's enforcement status. A failure is
// returned so that the work queue retries it with backoff: nothing is
// dropped.
func (r *AccessGrantReconciler) enforce(ctx context.Context, s *grantScope) error {
	if s.held {
		r.hold(s)
		return nil
	}
	enf := enforcementOf(s.grant)
	enf.HeldSince = nil
	system := s.input.System
	if system.Spec.DryRun {
		r.recordDryRun(s, enf)
		return nil
	}
	if !s.connector.ObservesState() && enf.State == s.desired && enf.LastError == "" && !enf.DryRun {
		return nil
	}
	change, err := r.ensure(ctx, s, s.desired, transitionID(s.grant))
	if err != nil {
		r.Metrics.Enforcements.WithLabelValues(string(system.Spec.Type), "error").Inc()
		enf.Attempts++
		enf.LastError = truncate(err.Error(), 1024)
		s.enforceErr = err
		s.grant.Status.Enforcement = enf
		return err
	}
	r.Metrics.Enforcements.WithLabelValues(string(system.Spec.Type), "success").Inc()
	if enf.State != s.desired || change.Changed || enf.AppliedAt == nil || enf.DryRun {
		enf.AppliedAt = &metav1.Time{Time: s.now}
	}
	enf.State, enf.Attempts, enf.LastError, enf.DryRun = s.desired, 0, "", false
	s.grant.Status.Enforcement = enf
	s.applied, s.detail = change.Changed, change.Detail
	return nil
}

// withdraw takes away what a grant that its system does not allow holds
// there: the system's lists changed after the grant was admitted, or the
// grant predates them. Nothing is granted; the grant goes back to Pending
// and is enforced again if the system allows it later. Only what the grant
// applied is removed: a grant that holds nothing (Pending, Revoked,
// Expired) never touches the system, whose account may have the same
// access from elsewhere. Like a quarantine, a withdrawal goes through the
// blast-radius guard, so a bad edit of a system's lists cannot take
// everyone's access at once.
func (r *AccessGrantReconciler) withdraw(ctx context.Context, s *grantScope) error {
	enf := enforcementOf(s.grant)
	holds := enf.State == accessv1alpha1.GrantActive || enf.State == accessv1alpha1.GrantQuarantined
	if s.input.System.Spec.DryRun || !holds {
		return nil
	}
	s.desired = accessv1alpha1.GrantPending
	admitted, err := r.guardAdmits(ctx, s)
	if err != nil {
		s.enforceErr = err
		return err
	}
	if s.held = !admitted; s.held {
		r.hold(s)
		return nil
	}
	change, err := r.ensure(ctx, s, connectors.StateRemoved, transitionID(s.grant))
	if err != nil {
		r.Metrics.Enforcements.WithLabelValues(string(s.input.System.Spec.Type), "error").Inc()
		enf.Attempts++
		enf.LastError = truncate(err.Error(), 1024)
		s.enforceErr = err
		s.grant.Status.Enforcement = enf
		return err
	}
	enf.AppliedAt = &metav1.Time{Time: s.now}
	enf.State, enf.Attempts, enf.LastError, enf.HeldSince = accessv1alpha1.GrantPending, 0, "", nil
	s.grant.Status.Enforcement = enf
	s.applied, s.detail = change.Changed, change.Detail
	return nil
}

// ensure calls the connector with the grant's target.
func (r *AccessGrantReconciler) ensure(ctx context.Context, s *grantScope, state accessv1alpha1.GrantState, transition string) (connectors.Change, error) {
	if s.credErr != nil {
		return connectors.Change{}, s.credErr
	}
	account := connectors.AccountOn(s.input.Contractor, s.input.System.Name)
	if account == "" && !connectors.Removes(state) {
		return connectors.Change{}, fmt.Errorf("%w: contractor %s has no account on ConnectedSystem %s; add it to spec.accounts",
			errNoAccount, s.input.Contractor.Name, s.input.System.Name)
	}
	t := connectors.Target{
		Grant: s.grant, Contractor: s.input.Contractor, System: s.input.System,
		Account: account, Credentials: s.credentials, Transition: transition,
	}
	return s.connector.Ensure(ctx, t, state)
}

// transitionID names the change from the state last applied, so that
// retries of one change share an id and the next change gets another.
func transitionID(g *accessv1alpha1.AccessGrant) string {
	enf := g.Status.Enforcement
	if enf == nil || enf.AppliedAt == nil {
		return "initial"
	}
	return fmt.Sprintf("%s@%s", enf.State, enf.AppliedAt.UTC().Format("2006-01-02T15:04:05.000000Z"))
}

func (r *AccessGrantReconciler) hold(s *grantScope) {
	enf := enforcementOf(s.grant)
	if enf.HeldSince == nil {
		enf.HeldSince = &metav1.Time{Time: s.now}
	}
	if enf.State == "" {
		enf.State = accessv1alpha1.GrantPending
	}
	s.grant.Status.Enforcement = enf
}

// recordDryRun records the state that would have been applied.
func (r *AccessGrantReconciler) recordDryRun(s *grantScope, enf *accessv1alpha1.Enforcement) {
	r.Metrics.Enforcements.WithLabelValues(string(s.input.System.Spec.Type), "dryrun").Inc()
	if enf.State != s.desired || !enf.DryRun {
		enf.AppliedAt = &metav1.Time{Time: s.now}
		s.detail = fmt.Sprintf("dry run: would make the entitlement %s", s.desired)
	}
	enf.State, enf.DryRun, enf.Attempts, enf.LastError = s.desired, true, 0, ""
	s.grant.Status.Enforcement = enf
}

func enforcementOf(g *accessv1alpha1.AccessGrant) *accessv1alpha1.Enforcement {
	if g.Status.Enforcement == nil {
		return &accessv1alpha1.Enforcement{State: accessv1alpha1.GrantPending}
	}
	return g.Status.Enforcement.DeepCopy()
}

// removeEntitlement takes a deleted grant's entitlement away. Without its
// ConnectedSystem there is nothing to remove it from; in dry run nothing was
// applied; a webhook that never applied anything, or already removed it,
// is not called again.
func (r *AccessGrantReconciler) removeEntitlement(ctx context.Context, g *accessv1alpha1.AccessGrant) error {
	s := newGrantScope(g, r.Clock.Now())
	if err := r.gatherReferences(ctx, s); err != nil {
		return err
	}
	if s.input.System == nil || s.input.System.Spec.DryRun {
		return nil
	}
	if s.input.Contractor == nil {
		s.input.Contractor = &accessv1alpha1.Contractor{}
	}
	applied := appliedState(g)
	if !s.connector.ObservesState() && (applied == accessv1alpha1.GrantPending || connectors.Removes(applied)) {
		return nil
	}
	s.credErr = r.gatherCredentials(ctx, s)
	change, err := r.ensure(ctx, s, connectors.StateRemoved, transitionID(g))
	if err != nil {
		r.Metrics.Enforcements.WithLabelValues(string(s.input.System.Spec.Type), "error").Inc()
		r.Recorder.Eventf(g, nil, "Warning", accessv1alpha1.ReasonEnforcementFailed, "RemoveEntitlement",
			"removing the entitlement of the deleted grant failed; retrying: %s", truncate(err.Error(), 512))
		return fmt.Errorf("removing entitlement of deleted grant: %w", err)
	}
	r.Metrics.Enforcements.WithLabelValues(string(s.input.System.Spec.Type), "success").Inc()
	if change.Changed {
		r.Recorder.Eventf(g, nil, "Normal", "EntitlementRemoved", "RemoveEntitlement", "%s", change.Detail)
	}
	return nil
}

// consumeRelease removes a guard-release annotation once the released
// transition was applied, so that it releases one transition only.
func (r *AccessGrantReconciler) consumeRelease(ctx context.Context, s *grantScope) error {
	// A failed enforcement keeps the annotation for its retry.
	if !s.released || s.grant.Status.Enforcement == nil || s.grant.Status.Enforcement.State != s.desired {
		return nil
	}
	patch := client.MergeFrom(s.grant.DeepCopy())
	delete(s.grant.Annotations, accessv1alpha1.AnnotationGuardRelease)
	if err := r.Patch(ctx, s.grant, patch); err != nil {
		return fmt.Errorf("removing the guard-release annotation: %w", err)
	}
	r.fresh.Wrote(s.grant)
	return nil
}

// sanitize keeps an error message to one line for events.
func sanitize(msg string) string {
	return strings.ReplaceAll(truncate(msg, 512), "\n", " ")
}
