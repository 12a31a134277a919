package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// AccessTransition is one change of a contractor's access that Shared
// Signals receivers hear about.
type AccessTransition struct {
	// ID identifies the transition: the same on every retry of it, so that
	// receivers get it once (the transmitter derives the SETs' jti from it).
	ID string
	// Email is the contractor's e-mail address, the SETs' subject.
	Email string
	// Disabled is true when the contractor lost access (session-revoked and
	// account-disabled), false when it came back (account-enabled).
	Disabled bool
	// Reason says why, for the receivers' administrators.
	Reason string
	// Time is when the transition was seen.
	Time time.Time
}

// AccessAnnouncer queues a transition for every subscribed receiver,
// durably: once it returns nil the transition is not lost. Queuing the same
// ID twice queues it once.
type AccessAnnouncer interface {
	AnnounceAccess(ctx context.Context, t AccessTransition) error
}

// announceAccess announces a change of the contractor's access, computed
// from its grant counts, and records it in status.announced. It runs before
// the status is written: when the announcement fails the record keeps its
// old value, the error is returned, and the retry announces the same
// transition under the same id. A contractor first seen enabled is recorded
// without an announcement; one first seen disabled is announced.
func (r *ContractorReconciler) announceAccess(ctx context.Context, c *accessv1alpha1.Contractor, now time.Time) error {
	if r.Announcer == nil {
		return nil
	}
	counts := c.Status.Grants
	state := accessv1alpha1.AnnouncedEnabled
	if counts.Quarantined > 0 || counts.Revoked > 0 {
		state = accessv1alpha1.AnnouncedDisabled
	}
	last := c.Status.Announced
	if last != nil && last.State == state {
		return nil
	}
	next := &accessv1alpha1.AnnouncedAccess{State: state, Time: &metav1.Time{Time: now}}
	if last != nil {
		next.Transitions = last.Transitions
	}
	if last == nil && state == accessv1alpha1.AnnouncedEnabled {
		c.Status.Announced = next
		return nil
	}
	next.Transitions++
	t := AccessTransition{
		ID:       fmt.Sprintf("%s/%d", c.UID, next.Transitions),
		Email:    c.Spec.Email,
		Disabled: state == accessv1alpha1.AnnouncedDisabled,
		Reason:   accessReason(counts),
		Time:     now,
	}
	if err := r.Announcer.AnnounceAccess(ctx, t); err != nil {
		return fmt.Errorf("announcing %s access to Shared Signals receivers: %w", state, err)
	}
	c.Status.Announced = next
	if r.Recorder != nil {
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "AccessAnnounced", "Announce",
			"announced access %s to Shared Signals receivers (transition %d): %s", state, next.Transitions, t.Reason)
	}
	return nil
}

// accessReason is the reason_admin of a transition: the grant counts, and
// nothing about the evidence, which stays in this cluster.
func accessReason(counts accessv1alpha1.GrantCounts) string {
	if counts.Quarantined == 0 && counts.Revoked == 0 {
		return "Portcullis restored the contractor's access: no grant is quarantined or revoked"
	}
	return fmt.Sprintf("Portcullis restricted the contractor's access: %d grant(s) quarantined, %d revoked",
		counts.Quarantined, counts.Revoked)
}
