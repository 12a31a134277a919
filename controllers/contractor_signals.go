package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
// from its grant counts, and records it in status.announced.
//
// A new transition is written to the status as pending before it is
// announced: an announcement that fails halfway (some receivers' outboxes
// took it, one did not) is then announced again, under the same id, on
// the next reconcile, even if the access changed back meanwhile, and the
// change back follows it as the next transition. Receivers that got the
// first thus always get the second. A contractor first seen enabled is
// recorded without an announcement; one first seen disabled is announced.
func (r *ContractorReconciler) announceAccess(ctx context.Context, c *accessv1alpha1.Contractor, now time.Time) error {
	if r.Announcer == nil {
		return nil
	}
	counts := c.Status.Grants
	state := accessv1alpha1.AnnouncedEnabled
	if counts.Quarantined > 0 || counts.Revoked > 0 {
		state = accessv1alpha1.AnnouncedDisabled
	}
	last := c.Status.Announced.DeepCopy()
	if last != nil && last.Pending {
		if err := r.announce(ctx, c, last, accessReason(last.State, counts)); err != nil {
			return err
		}
		last.Pending = false
		c.Status.Announced = last
	}
	if last != nil && last.State == state {
		return nil
	}
	next := &accessv1alpha1.AnnouncedAccess{State: state, Time: &metav1.Time{Time: now}}
	if last == nil && state == accessv1alpha1.AnnouncedEnabled {
		c.Status.Announced = next
		return nil
	}
	if last != nil {
		next.Transitions = last.Transitions
	}
	next.Transitions++
	next.Pending = true
	if err := r.recordAnnounced(ctx, c, next); err != nil {
		return err
	}
	if err := r.announce(ctx, c, next, accessReason(state, counts)); err != nil {
		return err
	}
	next.Pending = false
	return nil
}

// recordAnnounced writes a pending transition to the status before it is
// announced, and keeps it in c so that the reconcile's own status write
// does not undo it.
func (r *ContractorReconciler) recordAnnounced(ctx context.Context, c *accessv1alpha1.Contractor, rec *accessv1alpha1.AnnouncedAccess) error {
	base := c.DeepCopy()
	c.Status.Announced = rec
	if r.Client == nil {
		return nil // unit tests of the logic alone
	}
	if err := r.Status().Patch(ctx, c, client.MergeFrom(base)); err != nil {
		c.Status.Announced = base.Status.Announced
		return fmt.Errorf("recording the access transition before announcing it: %w", err)
	}
	return nil
}

// announce hands one recorded transition to the announcer.
func (r *ContractorReconciler) announce(ctx context.Context, c *accessv1alpha1.Contractor, rec *accessv1alpha1.AnnouncedAccess, reason string) error {
	t := AccessTransition{
		ID:       fmt.Sprintf("%s/%d", c.UID, rec.Transitions),
		Email:    c.Spec.Email,
		Disabled: rec.State == accessv1alpha1.AnnouncedDisabled,
		Reason:   reason,
		Time:     rec.Time.Time,
	}
	if err := r.Announcer.AnnounceAccess(ctx, t); err != nil {
		return fmt.Errorf("announcing %s access to Shared Signals receivers: %w", rec.State, err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "AccessAnnounced", "Announce",
			"announced access %s to Shared Signals receivers (transition %d): %s", rec.State, rec.Transitions, reason)
	}
	return nil
}

// accessReason is the reason_admin of a transition: the grant counts, and
// nothing about the evidence, which stays in this cluster.
func accessReason(state accessv1alpha1.AnnouncedState, counts accessv1alpha1.GrantCounts) string {
	if state == accessv1alpha1.AnnouncedEnabled {
		return "Portcullis restored the contractor's access: no grant is quarantined or revoked"
	}
	return fmt.Sprintf("Portcullis restricted the contractor's access: %d grant(s) quarantined, %d revoked",
		counts.Quarantined, counts.Revoked)
}
