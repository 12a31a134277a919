package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// How often a ConnectedSystem is checked again by default.
const (
	DefaultSystemRecheckReady    = 10 * time.Minute
	DefaultSystemRecheckNotReady = 30 * time.Second
)

// ConnectedSystemReconciler checks that a ConnectedSystem's credentials
// Secret exists and holds the keys its type needs.
type ConnectedSystemReconciler struct {
	// Recorder records an Event on each change of the Ready condition.
	Recorder events.EventRecorder
	client.Client
	// APIReader reads every namespace's grants when a shard is the last to
	// keep a deleted system (default: the manager's API reader).
	APIReader client.Reader
	// Credentials reads the systems' Secrets.
	Credentials *Credentials
	Clock       clock.PassiveClock
	// RecheckReady and RecheckNotReady are how long until a system that is
	// ready, or not, is checked again.
	RecheckReady, RecheckNotReady time.Duration
	// Connectors check connectivity.
	Connectors connectors.Registry
	// Health brings the re-checks that failed enforcements ask for; the
	// grant reconciler shares it.
	Health *SystemHealth
	// Shard, when set, says which systems this manager owns: it keeps its
	// own finalizer on every system while its grants hold access through
	// it, but checks and writes the status only of those it owns.
	Shard *Shard
}

// FinalizerGrants keeps a ConnectedSystem while grants hold access through
// it, so that deleting it never leaves that access behind unmanaged.
const FinalizerGrants = "access.portcullis.dev/grants"

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=connectedsystems,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=connectedsystems/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=connectedsystems/finalizers,verbs=update

// Reconcile checks one ConnectedSystem and writes its status.
func (r *ConnectedSystemReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	system := &accessv1alpha1.ConnectedSystem{}
	if err := r.Get(ctx, req.NamespacedName, system); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !system.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, system)
	}
	if finalizer := r.Shard.SystemFinalizer(); !controllerutil.ContainsFinalizer(system, finalizer) {
		// With a lock: shards add and remove their own finalizers on one
		// system, and a merge patch replaces the whole list.
		patch := client.MergeFromWithOptions(system.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(system, finalizer)
		if err := r.Patch(ctx, system, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	if !r.Shard.Owns(system) {
		return ctrl.Result{}, nil
	}
	before := system.DeepCopy()
	ready, err := r.computeStatus(ctx, system, metav1.NewTime(r.Clock.Now()))
	if err = errors.Join(err, r.patchAndAnnounce(ctx, before, system)); err != nil {
		return ctrl.Result{}, err
	}
	if !ready {
		return ctrl.Result{RequeueAfter: r.RecheckNotReady}, nil
	}
	return ctrl.Result{RequeueAfter: r.RecheckReady}, nil
}

func (r *ConnectedSystemReconciler) computeStatus(ctx context.Context, s *accessv1alpha1.ConnectedSystem, now metav1.Time) (bool, error) {
	ready, err := r.readyCondition(ctx, s)
	if err != nil {
		return false, err
	}
	setConditions(&s.Status.Conditions, now, ready)
	s.Status.ObservedGeneration = s.Generation
	s.Status.LastCheckedAt = &now
	return ready.Status == metav1.ConditionTrue, nil
}

// readyCondition finds the type's connector, reads the credentials Secret,
// and asks the connector to reach the system with them.
func (r *ConnectedSystemReconciler) readyCondition(ctx context.Context, s *accessv1alpha1.ConnectedSystem) (metav1.Condition, error) {
	c, err := r.Connectors.For(s.Spec.Type)
	if errors.Is(err, connectors.ErrNoConnector) {
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonUnreachable,
			fmt.Sprintf("this version of Portcullis has no connector for %s systems yet", s.Spec.Type), s.Generation), nil
	}
	if err != nil {
		return metav1.Condition{}, err
	}
	problem, creds, err := r.credentials(ctx, s, c)
	if err != nil || problem != nil {
		return ptr.Deref(problem, metav1.Condition{}), err
	}
	return connectivityCondition(ctx, s, c, creds), nil
}

// credentials reads the system's credentials Secret, if it names one. A
// Secret that cannot be used is a Ready=False condition saying why; it
// returns the Secret's data otherwise.
func (r *ConnectedSystemReconciler) credentials(ctx context.Context, s *accessv1alpha1.ConnectedSystem, c connectors.Connector) (*metav1.Condition, map[string][]byte, error) {
	ref := s.Spec.CredentialsSecretRef
	if ref == nil {
		return nil, nil, nil
	}
	notReady := func(reason, msg string) (*metav1.Condition, map[string][]byte, error) {
		cond := condition(accessv1alpha1.ConditionReady, false, reason, msg, s.Generation)
		return &cond, nil, nil
	}
	data, err := r.Credentials.Read(ctx, s)
	switch {
	case errors.Is(err, ErrSecretNamespace):
		return notReady(accessv1alpha1.ReasonSecretNamespaceNotAllowed, err.Error())
	case apierrors.IsNotFound(err):
		return notReady(accessv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %s/%s does not exist: create it or fix spec.credentialsSecretRef", ref.Namespace, ref.Name))
	case err != nil:
		return nil, nil, err
	}
	if missing := connectors.MissingCredentials(c, s, data); len(missing) > 0 {
		// Only key names appear here, never values.
		return notReady(accessv1alpha1.ReasonCredentialsIncomplete, fmt.Sprintf("Secret %s/%s lacks the key(s) %s that a %s system needs",
			ref.Namespace, ref.Name, strings.Join(missing, ", "), s.Spec.Type))
	}
	return nil, data, nil
}

// connectivityCondition asks the connector to reach the system.
func connectivityCondition(ctx context.Context, s *accessv1alpha1.ConnectedSystem, c connectors.Connector, creds map[string][]byte) metav1.Condition {
	if err := c.Check(ctx, s, creds); err != nil {
		reason := accessv1alpha1.ReasonUnreachable
		if errors.Is(err, connectors.ErrInsecure) || errors.Is(err, connectors.ErrCredentialsInURL) {
			reason = accessv1alpha1.ReasonInsecure
		}
		return condition(accessv1alpha1.ConditionReady, false, reason, truncate(err.Error(), 1024), s.Generation)
	}
	msg := fmt.Sprintf("the %s connector reached the system with its credentials", s.Spec.Type)
	if s.Spec.Insecure {
		msg += "; spec.insecure is set, so credentials and data may cross the network without TLS"
	}
	return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonConnected, msg, s.Generation)
}

// SetupWithManager registers the reconciler. Status writes do not change the
// generation, so they do not wake it; periodic checks come from
// RequeueAfter, early ones from failed enforcements, and a deleted grant
// wakes its system, which may be waiting for it to go.
func (r *ConnectedSystemReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Health == nil {
		r.Health = NewSystemHealth(r.Clock)
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Labels say which shard owns the system (Shard.Owns).
		For(&accessv1alpha1.ConnectedSystem{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&accessv1alpha1.AccessGrant{}, grantSystem(mgr.GetClient()), heldStateChanged()).
		WatchesRawSource(r.Health.source()).
		Named("connectedsystem").
		Complete(r)
}

// patchAndAnnounce writes the status and, once it is written, records an
// Event if the Ready condition changed.
func (r *ConnectedSystemReconciler) patchAndAnnounce(ctx context.Context, before, obj *accessv1alpha1.ConnectedSystem) error {
	if err := patchStatus(ctx, r.Client, before, obj); err != nil {
		return err
	}
	announceReady(r.Recorder, obj, before.Status.Conditions, obj.Status.Conditions)
	return nil
}
