package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// ContractorReconciler summarises a Contractor's findings and grants in its
// status and checks that its accounts name existing ConnectedSystems.
type ContractorReconciler struct {
	// Recorder records an Event on each change of the Ready condition.
	Recorder events.EventRecorder
	client.Client
	Clock clock.PassiveClock
	// Announcer, when set, tells Shared Signals receivers when the
	// contractor loses or regains access (see announceAccess).
	Announcer AccessAnnouncer
	// GrantSettle is how long the status waits for a new grant's first
	// status (see settling); zero means DefaultGrantSettle.
	GrantSettle time.Duration
}

// DefaultGrantSettle is how long a contractor's status waits, at most, for
// a new grant to be decided.
const DefaultGrantSettle = 30 * time.Second

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=contractors,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=contractors/status,verbs=get;patch;update

// Reconcile brings one Contractor's status in line.
func (r *ContractorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	contractor := &accessv1alpha1.Contractor{}
	if live, err := fetch(ctx, r.Client, req, contractor); !live {
		return ctrl.Result{}, err
	}
	before := contractor.DeepCopy()
	now := r.Clock.Now()
	wait, err := r.computeStatus(ctx, contractor, now)
	if err == nil {
		err = r.announceAccess(ctx, contractor, now)
	}
	if err == nil && wait > 0 && !announcedNow(before.Status.Announced, contractor.Status.Announced) {
		// The grant's first status wakes this contractor again.
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return ctrl.Result{}, errors.Join(err, r.patchAndAnnounce(ctx, before, contractor))
}

// computeStatus sets the contractor's status, and returns how long its
// write may wait for a new grant's first status (settling).
func (r *ContractorReconciler) computeStatus(ctx context.Context, c *accessv1alpha1.Contractor, now time.Time) (time.Duration, error) {
	findings := &accessv1alpha1.FindingList{}
	if err := r.List(ctx, findings, client.InNamespace(c.Namespace), client.MatchingFields{kube.IndexContractor: c.Name}); err != nil {
		return 0, fmt.Errorf("listing findings of contractor: %w", err)
	}
	grants := &accessv1alpha1.AccessGrantList{}
	if err := r.List(ctx, grants, client.InNamespace(c.Namespace), client.MatchingFields{kube.IndexContractor: c.Name}); err != nil {
		return 0, fmt.Errorf("listing grants of contractor: %w", err)
	}
	ready, err := r.accountsCondition(ctx, c)
	if err != nil {
		return 0, err
	}
	c.Status.ActiveFindings = countActiveFindings(findings.Items, now)
	c.Status.Grants, c.Status.WorstDecision = summariseGrants(grants.Items)
	c.Status.Risk = highestRisk(grants.Items)
	setConditions(&c.Status.Conditions, metav1.NewTime(now), ready)
	c.Status.ObservedGeneration = c.Generation
	window := r.GrantSettle
	if window <= 0 {
		window = DefaultGrantSettle
	}
	return settling(grants.Items, now, window), nil
}

// settling is how long a contractor's status may wait for its grants that
// have no status yet, created less than window ago: each is about to be
// decided, and its first status wakes the contractor again, so the summary
// is written once, with the grant decided, instead of once before and once
// after. A grant that stays undecided holds the summary back for window at
// most, counted from its creation. Zero means write now.
func settling(grants []accessv1alpha1.AccessGrant, now time.Time, window time.Duration) time.Duration {
	var wait time.Duration
	for i := range grants {
		g := &grants[i]
		if !g.DeletionTimestamp.IsZero() || meta.FindStatusCondition(g.Status.Conditions, accessv1alpha1.ConditionReady) != nil {
			continue
		}
		left := min(window, window-now.Sub(g.CreationTimestamp.Time))
		wait = max(wait, left)
	}
	return wait
}

// announcedNow reports whether the reconcile announced a transition of the
// contractor's access (or finished one): its record is written at once,
// never held back by settling.
func announcedNow(before, after *accessv1alpha1.AnnouncedAccess) bool {
	if after == nil {
		return false
	}
	if before == nil {
		return after.Transitions > 0
	}
	return before.Pending || before.Transitions != after.Transitions
}

// accountsCondition is Ready=True when every account names an existing
// ConnectedSystem, else False with reason ConnectedSystemNotFound.
func (r *ContractorReconciler) accountsCondition(ctx context.Context, c *accessv1alpha1.Contractor) (metav1.Condition, error) {
	for i, account := range c.Spec.Accounts {
		cond, err := systemCondition(ctx, r.Client, account.System, c.Generation)
		if err != nil {
			return cond, err
		}
		if cond.Status != metav1.ConditionTrue {
			cond.Type = accessv1alpha1.ConditionReady
			cond.Message = fmt.Sprintf("spec.accounts[%d]: %s", i, cond.Message)
			return cond, nil
		}
	}
	return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonResolved,
		"every account names an existing ConnectedSystem", c.Generation), nil
}

// countActiveFindings counts the findings that are active at now: not
// expired and not being deleted (Finding.ActiveAt).
func countActiveFindings(findings []accessv1alpha1.Finding, now time.Time) int32 {
	var n int32
	for i := range findings {
		if findings[i].ActiveAt(now) {
			n++
		}
	}
	return n
}

// summariseGrants counts grants by enforcement state and finds the most
// severe current decision.
func summariseGrants(grants []accessv1alpha1.AccessGrant) (accessv1alpha1.GrantCounts, accessv1alpha1.DecisionAction) {
	var counts accessv1alpha1.GrantCounts
	var worst accessv1alpha1.DecisionAction
	for i := range grants {
		status := grants[i].Status
		counts.Total++
		if status.Enforcement != nil {
			countState(&counts, status.Enforcement.State)
		}
		if status.Decision != nil && status.Decision.Action.Rank() > worst.Rank() {
			worst = status.Decision.Action
		}
	}
	return counts, worst
}

// highestRisk is the risk of the grant that scores highest, nil before any
// grant has been weighed.
func highestRisk(grants []accessv1alpha1.AccessGrant) *accessv1alpha1.Risk {
	var best *accessv1alpha1.Risk
	for i := range grants {
		r := grants[i].Status.Risk
		if r != nil && (best == nil || r.Score > best.Score) {
			best = r
		}
	}
	return best.DeepCopy()
}

func countState(counts *accessv1alpha1.GrantCounts, state accessv1alpha1.GrantState) {
	switch state {
	case accessv1alpha1.GrantActive:
		counts.Active++
	case accessv1alpha1.GrantQuarantined:
		counts.Quarantined++
	case accessv1alpha1.GrantRevoked:
		counts.Revoked++
	case accessv1alpha1.GrantExpired:
		counts.Expired++
	case accessv1alpha1.GrantPending:
	}
}

// toContractor maps a Finding or an AccessGrant to its Contractor.
func toContractor(_ context.Context, obj client.Object) []reconcile.Request {
	var name string
	switch o := obj.(type) {
	case *accessv1alpha1.Finding:
		name = o.Spec.ContractorRef.Name
	case *accessv1alpha1.AccessGrant:
		name = o.Spec.ContractorRef.Name
	default:
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// SetupWithManager registers the reconciler. Any change of the contractor's
// findings or grants updates its summary; a ConnectedSystem that appears or
// disappears re-checks the contractors whose accounts name it.
func (r *ContractorReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Contractor{}).
		Watches(&accessv1alpha1.Finding{}, handler.EnqueueRequestsFromMapFunc(toContractor)).
		Watches(&accessv1alpha1.AccessGrant{}, handler.EnqueueRequestsFromMapFunc(toContractor)).
		Watches(&accessv1alpha1.ConnectedSystem{},
			referrers(mgr.GetClient(), &accessv1alpha1.ContractorList{}, kube.IndexSystem, false), existenceChanged()).
		Named("contractor").
		Complete(r)
}

// patchAndAnnounce writes the status and, once it is written, records an
// Event if the Ready condition changed.
func (r *ContractorReconciler) patchAndAnnounce(ctx context.Context, before, obj *accessv1alpha1.Contractor) error {
	if err := patchStatus(ctx, r.Client, before, obj); err != nil {
		return err
	}
	announceReady(r.Recorder, obj, before.Status.Conditions, obj.Status.Conditions)
	return nil
}
