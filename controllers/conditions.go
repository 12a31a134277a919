package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

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
