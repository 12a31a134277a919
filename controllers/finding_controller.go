package controllers

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
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
	// Recorder records an Event on each change of the Ready condition.
	Recorder events.EventRecorder
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
	if finding.ExpiredAt(now) {
		return ctrl.Result{}, r.deleteExpired(ctx, finding)
	}

	before := finding.DeepCopy()
	err := r.computeStatus(ctx, finding, metav1.NewTime(now))
	err = errors.Join(err, r.patchAndAnnounce(ctx, before, finding))
	return ctrl.Result{RequeueAfter: untilExpiry(finding.Spec.ExpiresAt, now)}, err
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

// SetupWithManager registers the reconciler. A Contractor's creation or
// deletion re-checks the Findings that refer to it.
func (r *FindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Finding{}).
		Watches(&accessv1alpha1.Contractor{}, referrers(mgr.GetClient(), &accessv1alpha1.FindingList{}, kube.IndexContractor, true), existenceChanged()).
		Named("finding").
		Complete(r)
}

// patchAndAnnounce writes the status and, once it is written, records an
// Event if the Ready condition changed.
func (r *FindingReconciler) patchAndAnnounce(ctx context.Context, before, obj *accessv1alpha1.Finding) error {
	if err := patchStatus(ctx, r.Client, before, obj); err != nil {
		return err
	}
	announceReady(r.Recorder, obj, before.Status.Conditions, obj.Status.Conditions)
	return nil
}
