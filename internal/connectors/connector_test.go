package connectors

import (
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestAccountState(t *testing.T) {
	const (
		active      = accessv1alpha1.GrantActive
		quarantined = accessv1alpha1.GrantQuarantined
		revoked     = accessv1alpha1.GrantRevoked
		pending     = accessv1alpha1.GrantPending
	)
	for _, tc := range []struct {
		own      accessv1alpha1.GrantState
		siblings []accessv1alpha1.GrantState
		want     accessv1alpha1.GrantState
	}{
		{active, nil, active},
		{quarantined, nil, quarantined},
		{revoked, nil, revoked},
		{StateRemoved, nil, StateRemoved},
		{active, []accessv1alpha1.GrantState{quarantined}, quarantined},
		{quarantined, []accessv1alpha1.GrantState{active}, quarantined},
		{revoked, []accessv1alpha1.GrantState{active, pending}, active},
		{StateRemoved, []accessv1alpha1.GrantState{revoked, quarantined}, quarantined},
		{active, []accessv1alpha1.GrantState{revoked, pending, accessv1alpha1.GrantExpired}, active},
	} {
		got := Target{Siblings: tc.siblings}.AccountState(tc.own)
		if got != tc.want {
			t.Errorf("AccountState(%q) with siblings %v = %q, want %q", tc.own, tc.siblings, got, tc.want)
		}
	}
}

func TestEndsSessionsOncePerChange(t *testing.T) {
	for _, tc := range []struct {
		from, to accessv1alpha1.GrantState
		want     bool
	}{
		{accessv1alpha1.GrantActive, accessv1alpha1.GrantQuarantined, true},
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantQuarantined, false}, // applied again
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantActive, false},      // never for Active
		{accessv1alpha1.GrantActive, accessv1alpha1.GrantRevoked, true},
		{accessv1alpha1.GrantActive, accessv1alpha1.GrantExpired, true},
		{accessv1alpha1.GrantRevoked, StateRemoved, true},
		{accessv1alpha1.GrantPending, accessv1alpha1.GrantQuarantined, true}, // a failed first attempt
	} {
		if got := (Target{From: tc.from}).EndsSessions(tc.to); got != tc.want {
			t.Errorf("from %q to %q: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestStepsRecordWhatSucceeded(t *testing.T) {
	var s Steps
	_ = s.Do("first", func() error { return nil })
	if err := s.Do("second", func() error { return ErrUnreachable }); err == nil {
		t.Error("the failing step's error is lost")
	}
	if c := s.Change(); !c.Changed || c.Detail != "first" {
		t.Errorf("%+v", c)
	}
}

func TestRestoresOnlyOnAChangeAwayFromQuarantine(t *testing.T) {
	for _, tc := range []struct {
		from, to accessv1alpha1.GrantState
		want     bool
	}{
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantActive, true},
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantRevoked, true},
		{accessv1alpha1.GrantActive, accessv1alpha1.GrantActive, false}, // a periodic check
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantQuarantined, false},
		{"", accessv1alpha1.GrantActive, false},
	} {
		if got := (Target{From: tc.from}).Restores(tc.to); got != tc.want {
			t.Errorf("from %q to %q: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestMembershipKeptBySibling(t *testing.T) {
	const (
		active      = accessv1alpha1.GrantActive
		quarantined = accessv1alpha1.GrantQuarantined
		revoked     = accessv1alpha1.GrantRevoked
	)
	for _, tc := range []struct {
		same      []accessv1alpha1.GrantState
		groupMode bool
		want      bool
	}{
		{nil, false, false},
		{[]accessv1alpha1.GrantState{active}, false, true},
		{[]accessv1alpha1.GrantState{active}, true, true},
		{[]accessv1alpha1.GrantState{quarantined}, false, true}, // a quarantine keeps the group
		{[]accessv1alpha1.GrantState{quarantined}, true, false}, // it moves to the quarantine group
		{[]accessv1alpha1.GrantState{revoked, accessv1alpha1.GrantExpired, accessv1alpha1.GrantPending, StateRemoved}, false, false},
		{[]accessv1alpha1.GrantState{revoked, active}, true, true},
	} {
		// Siblings on other entitlements keep nothing.
		target := Target{Siblings: []accessv1alpha1.GrantState{active}, SameEntitlement: tc.same}
		if got := target.MembershipKeptBySibling(tc.groupMode); got != tc.want {
			t.Errorf("same %v, group mode %v: %v, want %v", tc.same, tc.groupMode, got, tc.want)
		}
	}
}

func TestStepsNoteIsNoChange(t *testing.T) {
	var s Steps
	s.Note(KeptBySibling("in group g"))
	if c := s.Change(); c.Changed || c.Detail != "kept in group g: another grant of the contractor holds it" {
		t.Errorf("%+v", c)
	}
	_ = s.Do("ended the sessions", func() error { return nil })
	if c := s.Change(); !c.Changed || c.Detail != "kept in group g: another grant of the contractor holds it; ended the sessions" {
		t.Errorf("%+v", c)
	}
}
