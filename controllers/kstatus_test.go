package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// kstatusOf computes what Flux and the cli-utils status library read from
// a grant whose Ready condition was set as the controller sets it.
func kstatusOf(t *testing.T, g *accessv1alpha1.AccessGrant) status.Status {
	t.Helper()
	g.APIVersion, g.Kind = accessv1alpha1.GroupVersion.String(), "AccessGrant"
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(g)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: raw})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func TestKstatusReadsEveryReadyReason(t *testing.T) {
	now := metav1.Now()
	all := []string{}
	for reason := range stalledReasons {
		all = append(all, reason)
	}
	all = append(all, accessv1alpha1.ReasonEnforcementFailed, accessv1alpha1.ReasonUnreachable, accessv1alpha1.ReasonDecisionFailed,
		accessv1alpha1.ReasonInUse, accessv1alpha1.ReasonSystemDeleting)
	for _, reason := range all {
		g := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", Generation: 2}}
		g.Status.ObservedGeneration = 2
		setConditions(&g.Status.Conditions, now, condition(accessv1alpha1.ConditionReady, false, reason, "why", 2))
		want := status.InProgressStatus
		if stalledReasons[reason] {
			want = status.FailedStatus
		}
		if got := kstatusOf(t, g); got != want {
			t.Errorf("Ready=False %s reads %s, want %s", reason, got, want)
		}
		// Becoming Ready clears both, and kstatus reads Current.
		setConditions(&g.Status.Conditions, now, condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonEnforced, "ok", 2))
		if got := kstatusOf(t, g); got != status.CurrentStatus || len(g.Status.Conditions) != 1 {
			t.Errorf("after %s, Ready=True reads %s with conditions %v, want Current with Ready alone", reason, got, g.Status.Conditions)
		}
	}

	// A spec the controller has not seen yet is in progress, whatever the
	// conditions say; so is an object with only its defaulted status.
	g := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", Generation: 3}}
	g.Status.ObservedGeneration = 2
	setConditions(&g.Status.Conditions, now, condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonEnforced, "ok", 2))
	if got := kstatusOf(t, g); got != status.InProgressStatus {
		t.Errorf("a newer generation reads %s, want InProgress", got)
	}
}

func TestKstatusConditionsKeepTheirTransitionTime(t *testing.T) {
	var conds []metav1.Condition
	first, later := metav1.Unix(1000, 0), metav1.Unix(2000, 0)
	setConditions(&conds, first, condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonUnreachable, "down", 1))
	setConditions(&conds, later, condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonUnreachable, "still down", 1))
	for _, c := range conds {
		if !c.LastTransitionTime.Equal(&first) {
			t.Errorf("%s moved its lastTransitionTime to %s on a reconcile that changed nothing", c.Type, c.LastTransitionTime)
		}
	}
}
