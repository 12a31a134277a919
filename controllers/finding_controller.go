package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// FindingReconciler checks that a Finding's Contractor exists and deletes
// the Finding once it expires.
type FindingReconciler struct {
	client.Client
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=findings,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=findings/status,verbs=get;patch;update

// Reconcile brings one Finding's status in line, or deletes it when expired.
func (r *FindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	finding := &accessv1alpha1.Finding{}
	if live, err := fetch(ctx, r.Client, req, finding); !live {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	if findingExpired(finding, now) {
		return ctrl.Result{}, r.deleteExpired(ctx, finding)
	}

	before := finding.DeepCopy()
	err := r.computeStatus(ctx, finding, metav1.NewTime(now))
	err = errors.Join(err, patchStatus(ctx, r.Client, before, finding))
	return ctrl.Result{RequeueAfter: untilExpiry(finding.Spec.ExpiresAt, now)}, err
}

func findingExpired(f *accessv1alpha1.Finding, now time.Time) bool {
	return f.Spec.ExpiresAt != nil && !now.Before(f.Spec.ExpiresAt.Time)
}

func (r *FindingReconciler) deleteExpired(ctx context.Context, f *accessv1alpha1.Finding) error {
	// The precondition keeps a finding that a writer just extended from
	// being deleted on the strength of a stale copy.
	err := r.Delete(ctx, f, client.Preconditions{ResourceVersion: &f.ResourceVersion})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting expired finding: %w", err)
	}
	ctrl.LoggerFrom(ctx).Info("Deleted expired finding", "finding", klog.KObj(f), "expiresAt", f.Spec.ExpiresAt)
	return nil
}

// computeStatus sets the Ready condition from whether the Contractor exists.
func (r *FindingReconciler) computeStatus(ctx context.Context, f *accessv1alpha1.Finding, now metav1.Time) error {
	ready, err := contractorCondition(ctx, r.Client, f.Namespace, f.Spec.ContractorRef.Name, f.Generation)
	if err != nil {
		return err
	}
	if ready.Status == metav1.ConditionTrue {
		ready.Reason, ready.Message = accessv1alpha1.ReasonActive, "the finding is in force for its contractor"
	}
	setConditions(&f.Status.Conditions, now, ready)
	f.Status.ObservedGeneration = f.Generation
	return nil
}

// contractorCondition returns a Ready condition that is True when the named
// Contractor exists, or False with reason ContractorNotFound.
func contractorCondition(ctx context.Context, c client.Client, namespace, name string, generation int64) (metav1.Condition, error) {
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &accessv1alpha1.Contractor{})
	switch {
	case apierrors.IsNotFound(err):
		return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonContractorNotFound,
			fmt.Sprintf("Contractor %q does not exist in namespace %q: create it or fix contractorRef", name, namespace), generation), nil
	case err != nil:
		return metav1.Condition{}, fmt.Errorf("getting contractor %s/%s: %w", namespace, name, err)
	}
	return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonResolved,
		fmt.Sprintf("Contractor %q exists", name), generation), nil
}

// untilExpiry is how long until an optional expiry, or zero for none.
func untilExpiry(expiresAt *metav1.Time, now time.Time) time.Duration {
	if expiresAt == nil {
		return 0
	}
	if d := expiresAt.Sub(now); d > 0 {
		return d
	}
	return time.Millisecond
}

// SetupWithManager registers the reconciler. A Contractor's creation or
// deletion re-checks the Findings that refer to it.
func (r *FindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Finding{}).
		Watches(&accessv1alpha1.Contractor{}, referrers(mgr.GetClient(), &accessv1alpha1.FindingList{}, kube.IndexContractor, true), existenceChanged()).
		Named("finding").
		Complete(r)
}

// systemCondition returns a ReferencesResolved condition that is True when
// the named ConnectedSystem exists, or False with reason ConnectedSystemNotFound.
func systemCondition(ctx context.Context, c client.Client, name string, generation int64) (metav1.Condition, error) {
	err := c.Get(ctx, client.ObjectKey{Name: name}, &accessv1alpha1.ConnectedSystem{})
	switch {
	case apierrors.IsNotFound(err):
		return condition(accessv1alpha1.ConditionReferencesResolved, false, accessv1alpha1.ReasonConnectedSystemNotFound,
			fmt.Sprintf("ConnectedSystem %q does not exist: create it or fix systemRef", name), generation), nil
	case err != nil:
		return metav1.Condition{}, fmt.Errorf("getting connected system %s: %w", name, err)
	}
	return condition(accessv1alpha1.ConditionReferencesResolved, true, accessv1alpha1.ReasonResolved,
		fmt.Sprintf("ConnectedSystem %q exists", name), generation), nil
}
