package controllers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// reportingController names the manager in the Events it creates itself.
const reportingController = "portcullis.dev/manager"

var reportingInstance = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "portcullis"
	}
	return "portcullis-" + host
})

// announce creates the Event of a state transition, synchronously and
// before the status that records the transition is written. If the manager
// dies in between, the next reconcile still finds the transition unrecorded
// and announces it again: every transition has its Event at least once (an
// Event recorder's buffer would lose it with the process). When the Event
// cannot be created, the recorder gets it instead and the status is written
// all the same: a missing Event never holds up a decision.
func (r *AccessGrantReconciler) announce(ctx context.Context, s *grantScope) {
	g := s.grant
	oldState, newState := appliedState(s.before), appliedState(g)
	if oldState == newState || newState == accessv1alpha1.GrantPending || s.enforceErr != nil {
		return
	}
	detail := orDefault(s.detail, "no change needed in the system")
	if s.recorded && (s.decision == nil || s.decision.Action != accessv1alpha1.ActionRevoke) {
		detail += "; revoked by the contractor's revocation record " + accessv1alpha1.RevocationKey(s.input.System.Name, g.Spec.Entitlement)
	}
	note := truncate(strings.ReplaceAll(fmt.Sprintf("%s%s: %s", transitionPrefix(g), newState, detail), "\n", " "), 1024)
	now := metav1.NowMicro()
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: fmt.Sprintf("%s.%x", g.Name, now.UnixNano())},
		EventTime:  now,
		Regarding: corev1.ObjectReference{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessGrant",
			Namespace: g.Namespace, Name: g.Name, UID: g.UID, ResourceVersion: g.ResourceVersion},
		Type: eventType(newState), Reason: string(newState), Action: "Enforce", Note: note,
		ReportingController: reportingController, ReportingInstance: reportingInstance(),
	}
	if err := r.Create(ctx, ev); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Creating the transition's Event failed; handing it to the event recorder")
		r.Recorder.Eventf(g, nil, ev.Type, ev.Reason, ev.Action, "%s", note)
	}
	r.observeLatency(s)
}
