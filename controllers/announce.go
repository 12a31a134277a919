package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

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

// transitioned reports whether the reconcile applied a new state.
func transitioned(s *grantScope) bool {
	oldState, newState := appliedState(s.before), appliedState(s.grant)
	return oldState != newState && newState != accessv1alpha1.GrantPending && s.enforceErr == nil
}

// firstActivation reports whether the grant became Active, for real, with
// its first status: a routine success that is no news, like an object Ready
// from its first status (announceReady). The binding and the status tell
// it; thousands of new grants do not flood `kubectl get events`. A grant
// that failed, was held or withdrawn first has a status already, and its
// activation is announced.
func firstActivation(s *grantScope) bool {
	enf := s.grant.Status.Enforcement
	return s.before.Status.Enforcement == nil &&
		meta.FindStatusCondition(s.before.Status.Conditions, accessv1alpha1.ConditionReady) == nil &&
		enf != nil && enf.State == accessv1alpha1.GrantActive && !enf.DryRun
}

// announce creates the Event of a state transition, synchronously and
// before the status that records the transition is written. If the manager
// dies in between, the next reconcile still finds the transition unrecorded
// and announces it again: every transition has its Event at least once (an
// Event recorder's buffer would lose it with the process). When the Event
// cannot be created after a few tries, announce returns the error and the
// status is not written: the retry applies the state again (a no-op) and
// announces it again. The transition itself is in the system already; its
// record in status waits, it is not lost. A first activation has no Event
// (firstActivation).
func (r *AccessGrantReconciler) announce(ctx context.Context, s *grantScope) error {
	g := s.grant
	if !transitioned(s) {
		return nil
	}
	if firstActivation(s) {
		r.observeLatency(s)
		return nil
	}
	newState := appliedState(g)
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
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 4},
		func(ctx context.Context) (bool, error) {
			last = r.Create(ctx, ev.DeepCopy())
			return last == nil || apierrors.IsAlreadyExists(last), nil
		})
	if err != nil {
		return fmt.Errorf("creating the Event of the transition to %s: %w", newState, errors.Join(last, err))
	}
	r.observeLatency(s)
	return nil
}
