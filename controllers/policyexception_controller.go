package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// PolicyExceptionReconciler reports whether a PolicyException is in force:
// Ready=True until its expiry and while everything it names exists,
// Ready=False with reason Expired after it.
type PolicyExceptionReconciler struct {
	// Recorder records an Event on each change of the Ready condition.
	Recorder events.EventRecorder
	client.Client
	Clock clock.PassiveClock
	// MaxLifetime is the longest an exception may last (the policy data's
	// exceptions.max_days); a longer one is Ready=False and applies
	// nowhere. Zero means no limit.
	MaxLifetime time.Duration
}

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=policyexceptions,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=policyexceptions/status,verbs=get;patch;update

// Reconcile brings one PolicyException's status in line.
func (r *PolicyExceptionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	exception := &accessv1alpha1.PolicyException{}
	if live, err := fetch(ctx, r.Client, req, exception); !live {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	before := exception.DeepCopy()
	err := r.computeStatus(ctx, exception, now)
	err = errors.Join(err, r.patchAndAnnounce(ctx, before, exception))
	if exception.ExpiredAt(now) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: untilExpiry(&exception.Spec.ExpiresAt, now)}, err
}

func (r *PolicyExceptionReconciler) computeStatus(ctx context.Context, e *accessv1alpha1.PolicyException, now time.Time) error {
	ready, err := r.readyCondition(ctx, e, now)
	if err != nil {
		return err
	}
	setConditions(&e.Status.Conditions, metav1.NewTime(now), ready)
	e.Status.ObservedGeneration = e.Generation
	return nil
}

func (r *PolicyExceptionReconciler) readyCondition(ctx context.Context, e *accessv1alpha1.PolicyException, now time.Time) (metav1.Condition, error) {
	if e.ExpiredAt(now) {
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonExpired,
			fmt.Sprintf("the exception expired at %s and no longer applies; create a new one, with a new approval, to extend it",
				e.Spec.ExpiresAt.UTC().Format(time.RFC3339)), e.Generation), nil
	}
	if r.MaxLifetime > 0 && !e.ActiveAt(now, r.MaxLifetime) {
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonTooLong,
			fmt.Sprintf("the exception would last %.0f days, longer than the %.0f days the policy data allows (exceptions.max_days), and applies nowhere: "+
				"create one that expires sooner", e.Lifetime(now).Hours()/24, r.MaxLifetime.Hours()/24), e.Generation), nil
	}
	missing, err := r.missingReference(ctx, e)
	if err != nil {
		return metav1.Condition{}, err
	}
	if missing != nil {
		return *missing, nil
	}
	return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonActive,
		fmt.Sprintf("in force until %s", e.Spec.ExpiresAt.UTC().Format(time.RFC3339)), e.Generation), nil
}

// reference is one object that an exception names.
type reference struct {
	key     client.ObjectKey
	obj     client.Object
	reason  string
	message string
}

func exceptionReferences(e *accessv1alpha1.PolicyException) []reference {
	var refs []reference
	if ref := e.Spec.ContractorRef; ref != nil {
		refs = append(refs, reference{client.ObjectKey{Namespace: e.Namespace, Name: ref.Name}, &accessv1alpha1.Contractor{},
			accessv1alpha1.ReasonContractorNotFound,
			fmt.Sprintf("Contractor %q does not exist in namespace %q: fix spec.contractorRef", ref.Name, e.Namespace)})
	}
	if ref := e.Spec.GrantRef; ref != nil {
		refs = append(refs, reference{client.ObjectKey{Namespace: e.Namespace, Name: ref.Name}, &accessv1alpha1.AccessGrant{},
			accessv1alpha1.ReasonGrantNotFound,
			fmt.Sprintf("AccessGrant %q does not exist in namespace %q: fix spec.grantRef", ref.Name, e.Namespace)})
	}
	return append(refs, reference{client.ObjectKey{Name: e.Spec.Policy}, &accessv1alpha1.AccessPolicy{},
		accessv1alpha1.ReasonPolicyNotFound,
		fmt.Sprintf("AccessPolicy %q does not exist: fix spec.policy", e.Spec.Policy)})
}

// missingReference returns a Ready=False condition for the first object the
// exception names that does not exist, or nil when all exist.
func (r *PolicyExceptionReconciler) missingReference(ctx context.Context, e *accessv1alpha1.PolicyException) (*metav1.Condition, error) {
	for _, ref := range exceptionReferences(e) {
		err := r.Get(ctx, ref.key, ref.obj)
		if apierrors.IsNotFound(err) {
			cond := condition(accessv1alpha1.ConditionReady, false, ref.reason, ref.message, e.Generation)
			return &cond, nil
		}
		if err != nil {
			return nil, fmt.Errorf("getting %s: %w", ref.key, err)
		}
	}
	return nil, nil
}

// SetupWithManager registers the reconciler. A Contractor, AccessGrant or
// AccessPolicy that appears or disappears re-checks the exceptions naming it.
func (r *PolicyExceptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	list := &accessv1alpha1.PolicyExceptionList{}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.PolicyException{}).
		Watches(&accessv1alpha1.Contractor{}, referrers(c, list, kube.IndexContractor, true), existenceChanged()).
		Watches(&accessv1alpha1.AccessGrant{}, referrers(c, list, kube.IndexGrant, true), existenceChanged()).
		Watches(&accessv1alpha1.AccessPolicy{}, referrers(c, list, kube.IndexPolicy, false), existenceChanged()).
		Named("policyexception").
		Complete(r)
}

// patchAndAnnounce writes the status and, once it is written, records an
// Event if the Ready condition changed.
func (r *PolicyExceptionReconciler) patchAndAnnounce(ctx context.Context, before, obj *accessv1alpha1.PolicyException) error {
	if err := patchStatus(ctx, r.Client, before, obj); err != nil {
		return err
	}
	announceReady(r.Recorder, obj, before.Status.Conditions, obj.Status.Conditions)
	return nil
}
