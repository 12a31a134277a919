package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/decisionlog"
	"github.com/portcullis-dev/portcullis/internal/guard"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// FinalizerEntitlement keeps a grant until its entitlement is removed from
// the connected system.
const FinalizerEntitlement = "access.portcullis.dev/entitlement"

// MaxEnforcementBackoff caps the retry delay of a failed enforcement.
const MaxEnforcementBackoff = 5 * time.Minute

// AccessGrantReconciler decides each grant with the policy engine and puts
// its entitlement into the decided state in the connected system. Gathering
// (accessgrant_gather.go), deciding (accessgrant_decide.go) and enforcing
// (accessgrant_enforce.go) are separate; the status is computed in one place
// (accessgrant_status.go) and written once.
type AccessGrantReconciler struct {
	client.Client
	// APIReader reads what the cache may not have seen yet.
	APIReader client.Reader
	// Credentials reads the systems' Secrets.
	Credentials *Credentials
	Clock       clock.PassiveClock
	Engine      policy.Engine
	Sync        *PolicySync
	Connectors  connectors.Registry
	Guard       *guard.Guard
	Metrics     *metrics.Metrics
	Recorder    events.EventRecorder
	// DecisionLog, when not nil, receives every decision.
	DecisionLog *decisionlog.Logger
	// Findings remembers when Findings were first seen, for the latency metric.
	Findings *FindingClock
	// Resync is how often a grant is checked again without any event, to
	// repair drift that no watch reports. Zero means ten minutes.
	Resync time.Duration
	// Workers is how many grants are reconciled at once; zero means one.
	Workers int
	// SystemConcurrency is how many of the workers the grants of one
	// ConnectedSystem may hold at once (the bulkhead); zero means a quarter
	// of Workers, at least one, so that three systems hanging at once still
	// leave a quarter of the workers to the others.
	SystemConcurrency int
	// EnforcementTimeout bounds one call to a connector; zero means
	// DefaultEnforcementTimeout.
	EnforcementTimeout time.Duration
	// Health asks for a re-check of a system whose enforcement failed.
	Health *SystemHealth
	// EvalErrors receives the policies' evaluation errors, for their status.
	EvalErrors *EvaluationErrors

	fresh      *kube.FreshReader
	bulkhead   *Bulkhead
	accounts   accountLocks
	grantCount grantCount
}

// DefaultEnforcementTimeout bounds one call to a connector by default.
const DefaultEnforcementTimeout = 45 * time.Second

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accessgrants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accessgrants/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accessgrants/finalizers,verbs=update
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=selfsubjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile decides one grant and enforces the decision. It holds one of
// its system's bulkhead slots, and its account's lock, throughout.
func (r *AccessGrantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	grant, err := r.get(ctx, req)
	if grant == nil {
		return ctrl.Result{}, err
	}
	release, ok := r.bulkhead.Enter(grant.Spec.SystemRef.Name, req)
	if !ok {
		return ctrl.Result{RequeueAfter: bulkheadRetry}, nil
	}
	defer release()
	defer r.accounts.lock(grant)()
	// A sibling may have written this grant's account while it waited.
	if grant, err = r.get(ctx, req); grant == nil {
		return ctrl.Result{}, err
	}
	return r.reconcile(ctx, grant)
}

// get reads the grant, never older than the last status this process
// wrote: it holds what was applied, and a revocation is terminal. It
// returns nil when the grant is gone or cannot be read.
func (r *AccessGrantReconciler) get(ctx context.Context, req ctrl.Request) (*accessv1alpha1.AccessGrant, error) {
	grant := &accessv1alpha1.AccessGrant{}
	if err := r.fresh.Get(ctx, req.NamespacedName, grant); err != nil {
		if apierrors.IsNotFound(err) {
			r.fresh.Deleted(req.NamespacedName)
		}
		return nil, client.IgnoreNotFound(err)
	}
	return grant, nil
}

func (r *AccessGrantReconciler) reconcile(ctx context.Context, grant *accessv1alpha1.AccessGrant) (ctrl.Result, error) {
	if !grant.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, grant)
	}
	if err := r.ensureFinalizer(ctx, grant); err != nil {
		return ctrl.Result{}, err
	}

	s := newGrantScope(grant, r.Clock.Now())
	synced, err := r.gather(ctx, s)
	if err != nil || !synced {
		// Without every policy loaded, a decision could allow what a
		// missing policy forbids: wait, and write nothing.
		return ctrl.Result{RequeueAfter: time.Second}, err
	}
	enforceErr := r.decideAndEnforce(ctx, s)
	r.computeStatus(s)
	if err := r.announce(ctx, s); err != nil {
		return ctrl.Result{}, errors.Join(enforceErr, err)
	}
	if err := patchStatus(ctx, r.Client, s.before, s.grant); err != nil {
		return ctrl.Result{}, errors.Join(enforceErr, err)
	}
	r.fresh.Wrote(s.grant)
	r.emitEvents(s)
	if err := r.consumeRelease(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.requeueAfter(s)}, enforceErr
}

// ensureFinalizer adds the finalizer before anything is applied, so that
// no entitlement can outlive its grant. The reconcile goes on after it.
func (r *AccessGrantReconciler) ensureFinalizer(ctx context.Context, grant *accessv1alpha1.AccessGrant) error {
	if controllerutil.ContainsFinalizer(grant, FinalizerEntitlement) {
		return nil
	}
	patch := client.MergeFrom(grant.DeepCopy())
	controllerutil.AddFinalizer(grant, FinalizerEntitlement)
	if err := r.Patch(ctx, grant, patch); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	r.fresh.Wrote(grant)
	return nil
}

// decideAndEnforce runs the decision and, when the references resolved,
// enforces it.
func (r *AccessGrantReconciler) decideAndEnforce(ctx context.Context, s *grantScope) error {
	if s.missing != nil {
		return nil
	}
	if s.refused != nil {
		return r.withdraw(ctx, s)
	}
	if err := r.decide(ctx, s); err != nil {
		s.decisionErr = err
		return err
	}
	if err := r.plan(ctx, s); err != nil {
		s.decisionErr, s.held = err, false
		return err
	}
	if err := r.recordRevocation(ctx, s); err != nil {
		return r.failed(s, enforcementOf(s.grant), err)
	}
	return r.enforce(ctx, s)
}

// requeueAfter is the next time the grant must be looked at without an
// event: its expiry, or the drift resync.
func (r *AccessGrantReconciler) requeueAfter(s *grantScope) time.Duration {
	resync := r.Resync
	if resync <= 0 {
		resync = 10 * time.Minute
	}
	if d := untilExpiry(s.grant.Spec.ExpiresAt, s.now); d > 0 && d < resync {
		return d
	}
	return resync
}

// reconcileDelete removes the entitlement, then the finalizer.
func (r *AccessGrantReconciler) reconcileDelete(ctx context.Context, grant *accessv1alpha1.AccessGrant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(grant, FinalizerEntitlement) {
		return ctrl.Result{}, nil
	}
	if err := r.removeEntitlement(ctx, grant); err != nil {
		return ctrl.Result{}, err
	}
	patch := client.MergeFrom(grant.DeepCopy())
	controllerutil.RemoveFinalizer(grant, FinalizerEntitlement)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, grant, patch))
}

// SetupWithManager registers the reconciler and everything that wakes it:
// its grants, their contractors' findings and exceptions, contractors,
// connected systems, a changed policy set (at low priority, so that live
// findings are not stuck behind the sweep), and the bindings it manages.
func (r *AccessGrantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	r.fresh = kube.NewFreshReader(c, r.APIReader)
	r.bulkhead = NewBulkhead(r.SystemConcurrency)
	if r.SystemConcurrency <= 0 {
		r.bulkhead = NewBulkhead(max(r.Workers, 1) / 4)
	}
	if r.Health == nil {
		r.Health = NewSystemHealth(r.Clock)
	}
	grants := &accessv1alpha1.AccessGrantList{}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.AccessGrant{}, grantChanged()).
		Watches(&accessv1alpha1.AccessGrant{}, siblings(c), heldStateChanged()).
		Watches(&accessv1alpha1.Finding{}, r.Findings.handler(c)).
		Watches(&accessv1alpha1.PolicyException{}, exceptionGrants(c)).
		Watches(&accessv1alpha1.Contractor{}, referrers(c, grants, kube.IndexContractor, true), contractorInputChanged()).
		Watches(&accessv1alpha1.ConnectedSystem{}, referrers(c, grants, kube.IndexSystem, false), generationOrExistence()).
		Watches(&accessv1alpha1.ConnectedSystem{}, failingGrants(c), becameReady()).
		WatchesRawSource(r.bulkhead.source()).
		WatchesRawSource(policyChanges(r.Sync, c))
	return watchConnectors(b, r.Connectors).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.Workers, 1),
			UsePriorityQueue:        ptr.To(true),
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				200*time.Millisecond, MaxEnforcementBackoff),
		}).
		Named("accessgrant").
		Complete(r)
}

// grantKey names a grant for events, logs and the decision log.
func grantKey(g *accessv1alpha1.AccessGrant) types.NamespacedName {
	return types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
}
