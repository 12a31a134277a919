package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

type recordingAnnouncer struct {
	got  []AccessTransition
	fail error
}

func (a *recordingAnnouncer) AnnounceAccess(_ context.Context, t AccessTransition) error {
	if a.fail != nil {
		return a.fail
	}
	a.got = append(a.got, t)
	return nil
}

var announceNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// announceStep sets the contractor's grant counts and announces.
func announceStep(t *testing.T, r *ContractorReconciler, c *accessv1alpha1.Contractor, quarantined, revoked int32) error {
	t.Helper()
	c.Status.Grants = accessv1alpha1.GrantCounts{Total: 2, Quarantined: quarantined, Revoked: revoked}
	return r.announceAccess(context.Background(), c, announceNow)
}

func announcedContractor(uid string) *accessv1alpha1.Contractor {
	c := &accessv1alpha1.Contractor{}
	c.UID = types.UID(uid)
	c.Spec.Email = "sam@example.com"
	return c
}

func TestAnnounceAccessTransitions(t *testing.T) {
	a := &recordingAnnouncer{}
	r := &ContractorReconciler{Announcer: a}
	c := announcedContractor("u1")
	for _, step := range [][2]int32{{0, 0}, {1, 0}, {1, 1}, {0, 0}} {
		if err := announceStep(t, r, c, step[0], step[1]); err != nil {
			t.Fatal(err)
		}
	}
	// First seen enabled: recorded, not announced; still disabled: nothing new.
	want := []AccessTransition{
		{ID: "u1/1", Email: "sam@example.com", Disabled: true},
		{ID: "u1/2", Email: "sam@example.com", Disabled: false},
	}
	if len(a.got) != len(want) {
		t.Fatalf("announced %+v, want %d transitions", a.got, len(want))
	}
	for i, w := range want {
		if got := a.got[i]; got.ID != w.ID || got.Disabled != w.Disabled || got.Email != w.Email {
			t.Errorf("transition %d = %+v, want %+v", i, got, w)
		}
	}
	if rec := c.Status.Announced; rec.State != accessv1alpha1.AnnouncedEnabled || rec.Transitions != 2 {
		t.Errorf("record = %+v, want Enabled after 2 transitions", rec)
	}
}

// A failed announcement stays recorded as pending and is announced again,
// under the same id, on the next reconcile; when the access changed back
// meanwhile, the change back follows as the next transition, so receivers
// that took the first also get the second.
func TestAnnounceAccessRetriesPendingTransitions(t *testing.T) {
	a := &recordingAnnouncer{}
	r := &ContractorReconciler{Announcer: a}
	c := announcedContractor("u1")
	if err := announceStep(t, r, c, 0, 0); err != nil {
		t.Fatal(err)
	}
	a.fail = errors.New("outbox full")
	if err := announceStep(t, r, c, 0, 1); err == nil {
		t.Fatal("a failed announcement returned no error")
	}
	if rec := c.Status.Announced; rec.State != accessv1alpha1.AnnouncedDisabled || rec.Transitions != 1 || !rec.Pending {
		t.Fatalf("a failed announcement is not recorded as pending: %+v", rec)
	}
	a.fail = nil
	if err := announceStep(t, r, c, 0, 0); err != nil { // access back before the retry
		t.Fatal(err)
	}
	want := []AccessTransition{{ID: "u1/1", Disabled: true}, {ID: "u1/2", Disabled: false}}
	if len(a.got) != len(want) {
		t.Fatalf("announced %+v, want %+v", a.got, want)
	}
	for i, w := range want {
		if a.got[i].ID != w.ID || a.got[i].Disabled != w.Disabled {
			t.Errorf("transition %d = %+v, want %+v", i, a.got[i], w)
		}
	}
	if rec := c.Status.Announced; rec.State != accessv1alpha1.AnnouncedEnabled || rec.Transitions != 2 || rec.Pending {
		t.Fatalf("record = %+v, want Enabled after 2 transitions, not pending", rec)
	}
}

// A contractor first seen disabled (a manager that starts transmitting
// late) is announced; without an announcer nothing is recorded.
func TestAnnounceAccessFirstSeenDisabled(t *testing.T) {
	a := &recordingAnnouncer{}
	c := announcedContractor("u2")
	if err := announceStep(t, &ContractorReconciler{Announcer: a}, c, 1, 0); err != nil {
		t.Fatal(err)
	}
	if len(a.got) != 1 || a.got[0].ID != "u2/1" || !a.got[0].Disabled {
		t.Fatalf("first seen disabled: %+v", a.got)
	}
	off := announcedContractor("u3")
	if err := announceStep(t, &ContractorReconciler{}, off, 1, 0); err != nil || off.Status.Announced != nil {
		t.Fatalf("without an announcer: err %v, record %+v", err, off.Status.Announced)
	}
}
