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
// status did not change. now stamps the transitions. A Ready condition
// brings the kstatus conditions with it (kstatusConditions).
func setConditions(conditions *[]metav1.Condition, now metav1.Time, set ...metav1.Condition) {
	for _, c := range set {
		c.LastTransitionTime = now
		meta.SetStatusCondition(conditions, c)
		if c.Type == accessv1alpha1.ConditionReady {
			kstatusConditions(conditions, c)
		}
	}
}

// stalledReasons are the Ready=False reasons that no retry can clear: a
// person must fix a spec, a Secret or a policy, release a guard hold or
// renew an exception. Every other reason is progress still under way.
var stalledReasons = map[string]bool{
	accessv1alpha1.ReasonCompileError:              true,
	accessv1alpha1.ReasonConfigMapNotFound:         true,
	accessv1alpha1.ReasonEvaluationError:           true,
	accessv1alpha1.ReasonHeldByGuard:               true,
	accessv1alpha1.ReasonNoAccount:                 true,
	accessv1alpha1.ReasonEntitlementNotAllowed:     true,
	accessv1alpha1.ReasonExpired:                   true,
	accessv1alpha1.ReasonTooLong:                   true,
	accessv1alpha1.ReasonSecretNotFound:            true,
	accessv1alpha1.ReasonSecretNamespaceNotAllowed: true,
	accessv1alpha1.ReasonCredentialsIncomplete:     true,
	accessv1alpha1.ReasonInsecure:                  true,
	accessv1alpha1.ReasonContractorNotFound:        true,
	accessv1alpha1.ReasonConnectedSystemNotFound:   true,
	accessv1alpha1.ReasonGrantNotFound:             true,
	accessv1alpha1.ReasonPolicyNotFound:            true,
	accessv1alpha1.ReasonCredentialsRefused:        true,
	accessv1alpha1.ReasonNoSignInLog:               true,
	accessv1alpha1.ReasonNoReceiverURL:             true,
}

// kstatusConditions sets Reconciling or Stalled from the Ready condition,
// with Ready's reason and message, and removes both when Ready is True, so
// that kstatus reads Current, InProgress or Failed.
// A condition that stays keeps its lastTransitionTime, so a reconcile that
// changes nothing writes nothing.
func kstatusConditions(conditions *[]metav1.Condition, ready metav1.Condition) {
	keep := ""
	if ready.Status != metav1.ConditionTrue {
		c := ready
		c.Status, c.Type = metav1.ConditionTrue, accessv1alpha1.ConditionReconciling
		if stalledReasons[ready.Reason] {
			c.Type = accessv1alpha1.ConditionStalled
		}
		meta.SetStatusCondition(conditions, c)
		keep = c.Type
	}
	for _, t := range []string{accessv1alpha1.ConditionReconciling, accessv1alpha1.ConditionStalled} {
		if t != keep {
			meta.RemoveStatusCondition(conditions, t)
		}
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
