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

func TestAnnounceAccess(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := &recordingAnnouncer{}
	r := &ContractorReconciler{Announcer: a}
	c := &accessv1alpha1.Contractor{}
	c.UID = types.UID("u1")
	c.Spec.Email = "sam@example.com"
	step := func(quarantined, revoked int32) {
		t.Helper()
		c.Status.Grants = accessv1alpha1.GrantCounts{Total: 2, Quarantined: quarantined, Revoked: revoked}
		if err := r.announceAccess(context.Background(), c, now); err != nil {
			t.Fatal(err)
		}
	}

	step(0, 0) // first seen enabled: recorded, not announced
	if len(a.got) != 0 || c.Status.Announced == nil || c.Status.Announced.State != accessv1alpha1.AnnouncedEnabled {
		t.Fatalf("first enabled: announced %v, record %+v", a.got, c.Status.Announced)
	}
	step(1, 0)
	step(1, 1) // still disabled: nothing new
	step(0, 0)
	want := []struct {
		id       string
		disabled bool
	}{{"u1/1", true}, {"u1/2", false}}
	if len(a.got) != len(want) {
		t.Fatalf("announced %d transitions, want %d: %+v", len(a.got), len(want), a.got)
	}
	for i, w := range want {
		if a.got[i].ID != w.id || a.got[i].Disabled != w.disabled || a.got[i].Email != "sam@example.com" {
			t.Errorf("transition %d = %+v, want id %s disabled %v", i, a.got[i], w.id, w.disabled)
		}
	}

	// A failed announcement keeps the record, so the retry uses the same id.
	a.fail = errors.New("outbox full")
	c.Status.Grants.Revoked = 1
	if err := r.announceAccess(context.Background(), c, now); err == nil {
		t.Fatal("a failed announcement returned no error")
	}
	if c.Status.Announced.State != accessv1alpha1.AnnouncedEnabled || c.Status.Announced.Transitions != 2 {
		t.Fatalf("a failed announcement changed the record: %+v", c.Status.Announced)
	}
	a.fail = nil
	step(0, 1)
	if last := a.got[len(a.got)-1]; last.ID != "u1/3" || !last.Disabled {
		t.Fatalf("retried transition = %+v, want u1/3 disabled", last)
	}

	// First seen disabled (a manager that starts transmitting late): announced.
	fresh := &recordingAnnouncer{}
	c2 := &accessv1alpha1.Contractor{}
	c2.UID, c2.Status.Grants = "u2", accessv1alpha1.GrantCounts{Total: 1, Quarantined: 1}
	if err := (&ContractorReconciler{Announcer: fresh}).announceAccess(context.Background(), c2, now); err != nil {
		t.Fatal(err)
	}
	if len(fresh.got) != 1 || fresh.got[0].ID != "u2/1" || !fresh.got[0].Disabled {
		t.Fatalf("first seen disabled: %+v", fresh.got)
	}
}
