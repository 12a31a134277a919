package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
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
	client.Client
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
	if !controllerutil.ContainsFinalizer(system, FinalizerGrants) {
		patch := client.MergeFrom(system.DeepCopy())
		controllerutil.AddFinalizer(system, FinalizerGrants)
		if err := r.Patch(ctx, system, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	before := system.DeepCopy()
	ready, err := r.computeStatus(ctx, system, metav1.NewTime(r.Clock.Now()))
	if err = errors.Join(err, patchStatus(ctx, r.Client, before, system)); err != nil {
		return ctrl.Result{}, err
	}
	if !ready {
		return ctrl.Result{RequeueAfter: r.RecheckNotReady}, nil
	}
	return ctrl.Result{RequeueAfter: r.RecheckReady}, nil
}

func (r *ConnectedSystemReconciler) computeStatus(ctx context.Context, s *accessv1alpha1.ConnectedSystem, now metav1.Time) (bool, error) {
	ready, creds, err := r.credentialsCondition(ctx, s)
	if err != nil {
		return false, err
	}
	if ready.Status == metav1.ConditionTrue {
		ready = r.connectivityCondition(ctx, s, creds)
	}
	setConditions(&s.Status.Conditions, now, ready)
	s.Status.ObservedGeneration = s.Generation
	s.Status.LastCheckedAt = &now
	return ready.Status == metav1.ConditionTrue, nil
}

// credentialsCondition is Ready=True when the system needs no Secret or its
// Secret holds the keys of its type; it returns the Secret's data for the
// connectivity check.
func (r *ConnectedSystemReconciler) credentialsCondition(ctx context.Context, s *accessv1alpha1.ConnectedSystem) (metav1.Condition, map[string][]byte, error) {
	ref := s.Spec.CredentialsSecretRef
	if ref == nil {
		return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonConfigured,
			"uses the controller's own credentials", s.Generation), nil, nil
	}
	data, err := r.Credentials.Read(ctx, s)
	switch {
	case errors.Is(err, ErrSecretNamespace):
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonSecretNamespaceNotAllowed,
			err.Error(), s.Generation), nil, nil
	case apierrors.IsNotFound(err):
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %s/%s does not exist: create it or fix spec.credentialsSecretRef", ref.Namespace, ref.Name), s.Generation), nil, nil
	case err != nil:
		return metav1.Condition{}, nil, err
	}
	if missing := missingCredentialKeys(s.Spec.Type, data); len(missing) > 0 {
		// Only key names appear here, never values.
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonCredentialsIncomplete,
			fmt.Sprintf("Secret %s/%s lacks the key(s) %s that a %s system needs", ref.Namespace, ref.Name,
				strings.Join(missing, ", "), s.Spec.Type), s.Generation), nil, nil
	}
	return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonConfigured,
		fmt.Sprintf("Secret %s/%s holds the credentials a %s system needs", ref.Namespace, ref.Name, s.Spec.Type), s.Generation), data, nil
}

// connectivityCondition asks the type's connector to reach the system. A
// type without a connector yet keeps the credentials result.
func (r *ConnectedSystemReconciler) connectivityCondition(ctx context.Context, s *accessv1alpha1.ConnectedSystem, creds map[string][]byte) metav1.Condition {
	c, err := r.Connectors.For(s.Spec.Type)
	if err != nil {
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonUnreachable,
			fmt.Sprintf("this version of Portcullis has no connector for %s systems yet", s.Spec.Type), s.Generation)
	}
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

// missingCredentialKeys lists the keys that a system type needs and data lacks.
func missingCredentialKeys(t accessv1alpha1.SystemType, data map[string][]byte) []string {
	var need []string
	switch t {
	case accessv1alpha1.SystemTypeSCIM:
		need = []string{"token"}
	case accessv1alpha1.SystemTypeLDAP:
		need = []string{"bindDN", "password"}
	case accessv1alpha1.SystemTypeWebhook:
		need = []string{"hmacKey"}
	case accessv1alpha1.SystemTypePostgres:
		if len(data["dsn"]) > 0 {
			return nil
		}
		need = []string{"username", "password"}
	case accessv1alpha1.SystemTypeKubernetes:
	}
	return slices.DeleteFunc(need, func(k string) bool { return len(data[k]) > 0 })
}

// SetupWithManager registers the reconciler. Status writes do not change the
// generation, so they do not wake it; periodic checks come from
// RequeueAfter, early ones from failed enforcements, and a deleted grant
// wakes its system, which may be waiting for it to go.
func (r *ConnectedSystemReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Health == nil {
		r.Health = NewSystemHealth(r.Clock)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.ConnectedSystem{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.AccessGrant{}, grantSystem(mgr.GetClient()), heldStateChanged()).
		WatchesRawSource(r.Health.source()).
		Named("connectedsystem").
		Complete(r)
}
