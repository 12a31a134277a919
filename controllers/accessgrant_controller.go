package controllers

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// AccessGrantReconciler resolves an AccessGrant's Contractor and
// ConnectedSystem and reports them in the grant's status.
type AccessGrantReconciler struct {
	client.Client
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accessgrants,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accessgrants/status,verbs=get;patch;update

// Reconcile brings one AccessGrant's status in line.
func (r *AccessGrantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	grant := &accessv1alpha1.AccessGrant{}
	if live, err := fetch(ctx, r.Client, req, grant); !live {
		return ctrl.Result{}, err
	}
	before := grant.DeepCopy()
	err := r.computeStatus(ctx, grant, metav1.NewTime(r.Clock.Now()))
	return ctrl.Result{}, errors.Join(err, patchStatus(ctx, r.Client, before, grant))
}

// computeStatus sets ReferencesResolved and Ready from whether the grant's
// Contractor and ConnectedSystem exist.
func (r *AccessGrantReconciler) computeStatus(ctx context.Context, g *accessv1alpha1.AccessGrant, now metav1.Time) error {
	refs, err := r.resolveReferences(ctx, g)
	if err != nil {
		return err
	}
	ready := refs
	ready.Type = accessv1alpha1.ConditionReady
	setConditions(&g.Status.Conditions, now, refs, ready)
	g.Status.ObservedGeneration = g.Generation
	return nil
}

func (r *AccessGrantReconciler) resolveReferences(ctx context.Context, g *accessv1alpha1.AccessGrant) (metav1.Condition, error) {
	cond, err := contractorCondition(ctx, r.Client, g.Namespace, g.Spec.ContractorRef.Name, g.Generation)
	if err != nil || cond.Status != metav1.ConditionTrue {
		cond.Type = accessv1alpha1.ConditionReferencesResolved
		return cond, err
	}
	cond, err = systemCondition(ctx, r.Client, g.Spec.SystemRef.Name, g.Generation)
	if err != nil || cond.Status != metav1.ConditionTrue {
		return cond, err
	}
	return condition(accessv1alpha1.ConditionReferencesResolved, true, accessv1alpha1.ReasonResolved,
		fmt.Sprintf("Contractor %q and ConnectedSystem %q exist", g.Spec.ContractorRef.Name, g.Spec.SystemRef.Name),
		g.Generation), nil
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

// SetupWithManager registers the reconciler. A Contractor or ConnectedSystem
// that appears or disappears re-checks the grants that refer to it.
func (r *AccessGrantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.AccessGrant{}).
		Watches(&accessv1alpha1.Contractor{}, referrers(c, &accessv1alpha1.AccessGrantList{}, IndexContractor, true), existenceChanged()).
		Watches(&accessv1alpha1.ConnectedSystem{}, referrers(c, &accessv1alpha1.AccessGrantList{}, IndexSystem, false), existenceChanged()).
		Named("accessgrant").
		Complete(r)
}
