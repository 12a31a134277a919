package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// fetch reads the object of a request into obj. It reports false, with no
// error, when the object is gone or being deleted: nothing to reconcile.
func fetch(ctx context.Context, c client.Client, req ctrl.Request, obj client.Object) (bool, error) {
	if err := c.Get(ctx, req.NamespacedName, obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return obj.GetDeletionTimestamp().IsZero(), nil
}

// condition builds a condition of the given type for an object's generation.
func condition(typ string, ok bool, reason, message string, generation int64) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	}
}

// setConditions sets each condition, keeping lastTransitionTime when the
// status did not change. now stamps the transitions.
func setConditions(conditions *[]metav1.Condition, now metav1.Time, set ...metav1.Condition) {
	for _, c := range set {
		c.LastTransitionTime = now
		meta.SetStatusCondition(conditions, c)
	}
}

// patchStatus writes obj's status with a merge patch against before, and
// only when the status changed. It is the one place where reconcilers write
// status.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object) error {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patching status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// statusOf returns the status of one of this API's kinds, for patchStatus.
func statusOf(obj client.Object) any {
	switch o := obj.(type) {
	case *accessv1alpha1.Contractor:
		return o.Status
	case *accessv1alpha1.AccessGrant:
		return o.Status
	case *accessv1alpha1.AccessPolicy:
		return o.Status
	case *accessv1alpha1.ConnectedSystem:
		return o.Status
	case *accessv1alpha1.Finding:
		return o.Status
	case *accessv1alpha1.PolicyException:
		return o.Status
	}
	panic(fmt.Sprintf("statusOf: unexpected type %T", obj))
}
