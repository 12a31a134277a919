package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	account := connectors.AccountOn(s.input.Contractor, system.Name)
	if !s.connector.ObservesState() && settled(s, enf, account) {
		return nil
	}
	change, err := r.ensure(ctx, s, s.desired, transitionID(s.grant))
	if err != nil {
		return r.failed(s, enf, err)
	}
	r.Metrics.Enforcements.WithLabelValues(string(system.Spec.Type), "success").Inc()
	if enf.State != s.desired || change.Changed || enf.AppliedAt == nil || enf.DryRun {
		enf.AppliedAt = &metav1.Time{Time: s.now}
	}
	enf.State, enf.Attempts, enf.LastError, enf.DryRun = s.desired, 0, "", false
	enf.Account = account
	if connectors.Removes(s.desired) {
		enf.Account = ""
	}
	s.grant.Status.Enforcement = enf
	s.applied, s.detail = change.Changed, change.Detail
	return nil
}

// settled reports whether a connector that cannot read state back already
// applied the desired state, to the contractor's current account.
func settled(s *grantScope, enf *accessv1alpha1.Enforcement, account string) bool {
	return enf.State == s.desired && enf.LastError == "" && !enf.DryRun &&
		(enf.Account == "" || enf.Account == account || !holdsAccess(s.grant))
}

// failed records a failed attempt in the grant's status and returns err
// for the work queue to retry.
func (r *AccessGrantReconciler) failed(s *grantScope, enf *accessv1alpha1.Enforcement, err error) error {
	r.Metrics.Enforcements.WithLabelValues(string(s.input.System.Spec.Type), "error").Inc()
	enf.Attempts++
	enf.LastError = truncate(err.Error(), 1024)
	s.enforceErr = err
	s.grant.Status.Enforcement = enf
	return err
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
		return r.failed(s, enf, err)
	}
	enf.AppliedAt = &metav1.Time{Time: s.now}
	enf.State, enf.Attempts, enf.LastError, enf.HeldSince, enf.Account = accessv1alpha1.GrantPending, 0, "", nil, ""
	s.grant.Status.Enforcement = enf
	s.applied, s.detail = change.Changed, change.Detail
	return nil
}

// ensure calls the connector with the grant's target, within the
// enforcement timeout. A removal goes to the account the entitlement was
// applied to; an entitlement applied to an account that the contractor no
// longer has on the system is removed from it before it is applied to the
// current one. A failure asks for a re-check of the system.
func (r *AccessGrantReconciler) ensure(ctx context.Context, s *grantScope, state accessv1alpha1.GrantState, transition string) (connectors.Change, error) {
	if s.credErr != nil {
		return connectors.Change{}, s.credErr
	}
	account := connectors.AccountOn(s.input.Contractor, s.input.System.Name)
	applied := appliedAccount(s.grant)
	if connectors.Removes(state) {
		if applied != "" {
			account = applied
		}
		return r.call(ctx, s, account, state, transition)
	}
	if account == "" {
		return connectors.Change{}, fmt.Errorf("%w: contractor %s has no account on ConnectedSystem %s; add it to spec.accounts",
			errNoAccount, s.input.Contractor.Name, s.input.System.Name)
	}
	var moved connectors.Change
	if applied != "" && applied != account && holdsAccess(s.grant) {
		c, err := r.call(ctx, s, applied, connectors.StateRemoved, transition+"/moved")
		if err != nil {
			return c, fmt.Errorf("removing the entitlement from the former account %q: %w", applied, err)
		}
		moved = c
	}
	change, err := r.call(ctx, s, account, state, transition)
	if moved.Changed {
		change.Changed, change.Detail = true, strings.TrimPrefix(moved.Detail+" (former account); "+change.Detail, "; ")
	}
	return change, err
}

// call runs the connector for one account, within the enforcement timeout.
func (r *AccessGrantReconciler) call(ctx context.Context, s *grantScope, account string, state accessv1alpha1.GrantState, transition string) (connectors.Change, error) {
	siblings, same, err := r.siblingStates(ctx, s.grant, account)
	if err != nil {
		return connectors.Change{}, err
	}
	t := connectors.Target{
		Grant: s.grant, Contractor: s.input.Contractor, System: s.input.System,
		Account: account, Credentials: s.credentials, Transition: transition,
		Siblings: siblings, SameEntitlement: same,
	}
	t.From = stateOn(s.grant.Status.Enforcement, account)
	timeout := r.EnforcementTimeout
	if timeout <= 0 {
		timeout = DefaultEnforcementTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	change, err := s.connector.Ensure(ctx, t, state)
	if err != nil {
		r.Health.EnforcementFailed(s.input.System)
	}
	return change, err
}

// stateOn is the state last applied, in full, to account: an account
// the grant moved to starts from nothing, so a quarantine there is a change
// (and ends the new account's sessions), not the old one applied again.
func stateOn(enf *accessv1alpha1.Enforcement, account string) accessv1alpha1.GrantState {
	if enf == nil || (enf.Account != "" && enf.Account != account) {
		return ""
	}
	return enf.State
}

// appliedAccount is the account the grant's state was last applied to.
func appliedAccount(g *accessv1alpha1.AccessGrant) string {
	if g.Status.Enforcement == nil {
		return ""
	}
	return g.Status.Enforcement.Account
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

// removeEntitlement takes a deleted grant's entitlement away. A grant that
// holds access in a ConnectedSystem that no longer exists waits for the
// system to come back (its creation wakes the grant), rather than leave that
// access behind; one that holds nothing there has nothing to remove. In dry
// run nothing was applied; a webhook that never applied anything, or
// already removed it, is not called again.
func (r *AccessGrantReconciler) removeEntitlement(ctx context.Context, g *accessv1alpha1.AccessGrant) error {
	s := newGrantScope(g, r.Clock.Now())
	system := &accessv1alpha1.ConnectedSystem{}
	err := r.Get(ctx, client.ObjectKey{Name: g.Spec.SystemRef.Name}, system)
	if apierrors.IsNotFound(err) {
		if !holdsAccess(g) {
			return nil
		}
		r.Recorder.Eventf(g, nil, "Warning", accessv1alpha1.ReasonEnforcementFailed, "RemoveEntitlement",
			"ConnectedSystem %s does not exist, and this grant holds %s access there: the entitlement is removed when the system "+
				"comes back. To give it up, remove the finalizer %s by hand", g.Spec.SystemRef.Name, appliedState(g), FinalizerEntitlement)
		return fmt.Errorf("%w: ConnectedSystem %s does not exist; waiting for it to remove the entitlement", errSystemMissing, g.Spec.SystemRef.Name)
	}
	if err != nil {
		return fmt.Errorf("getting connected system: %w", err)
	}
	if system.Spec.DryRun {
		return nil
	}
	// Without its Contractor, the entitlement is removed from the account
	// it was applied to (status.enforcement.account).
	contractor := &accessv1alpha1.Contractor{}
	err = r.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.Spec.ContractorRef.Name}, contractor)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting contractor: %w", err)
	}
	s.input.System, s.input.Contractor = system, contractor
	if s.connector, err = r.Connectors.For(system.Spec.Type); err != nil {
		return err
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
	switch {
	case change.Changed:
		r.Recorder.Eventf(g, nil, "Normal", "EntitlementRemoved", "RemoveEntitlement", "%s", change.Detail)
	case change.Detail != "":
		// Nothing changed on purpose: another grant keeps the entitlement.
		r.Recorder.Eventf(g, nil, "Normal", "EntitlementKept", "RemoveEntitlement", "%s", change.Detail)
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

// errSystemMissing is a deleted grant's wait for its ConnectedSystem.
var errSystemMissing = errors.New("the grant's system is missing")

// sanitize keeps an error message to one line for events.
func sanitize(msg string) string {
	return strings.ReplaceAll(truncate(msg, 512), "\n", " ")
}
