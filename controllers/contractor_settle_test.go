package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestSettling(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	window := 30 * time.Second
	grant := func(age time.Duration, decided, deleting bool) accessv1alpha1.AccessGrant {
		g := accessv1alpha1.AccessGrant{}
		g.CreationTimestamp = metav1.NewTime(now.Add(-age))
		if decided {
			g.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
		}
		if deleting {
			g.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return g
	}
	for _, tc := range []struct {
		name   string
		grants []accessv1alpha1.AccessGrant
		want   time.Duration
	}{
		{"no grant", nil, 0},
		{"every grant decided", []accessv1alpha1.AccessGrant{grant(time.Second, true, false)}, 0},
		{"a new grant not decided yet", []accessv1alpha1.AccessGrant{grant(10*time.Second, false, false)}, 20 * time.Second},
		{"the youngest of two sets the wait", []accessv1alpha1.AccessGrant{
			grant(25*time.Second, false, false), grant(5*time.Second, false, false), grant(time.Second, true, false)}, 25 * time.Second},
		{"a grant undecided for longer than the window holds nothing", []accessv1alpha1.AccessGrant{grant(time.Minute, false, false)}, 0},
		{"a grant being deleted holds nothing", []accessv1alpha1.AccessGrant{grant(time.Second, false, true)}, 0},
		{"a creation time ahead of the clock waits the window, no more", []accessv1alpha1.AccessGrant{grant(-time.Hour, false, false)}, window},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := settling(tc.grants, now, window); got != tc.want {
				t.Errorf("settling = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAnnouncedNow(t *testing.T) {
	enabled := &accessv1alpha1.AnnouncedAccess{State: accessv1alpha1.AnnouncedEnabled}
	disabled := &accessv1alpha1.AnnouncedAccess{State: accessv1alpha1.AnnouncedDisabled, Transitions: 1}
	pending := &accessv1alpha1.AnnouncedAccess{State: accessv1alpha1.AnnouncedDisabled, Transitions: 1, Pending: true}
	for _, tc := range []struct {
		name          string
		before, after *accessv1alpha1.AnnouncedAccess
		want          bool
	}{
		{"no announcer", nil, nil, false},
		{"first seen enabled: recorded, not announced", nil, enabled, false},
		{"first seen disabled: announced", nil, disabled, true},
		{"no change", disabled, disabled, false},
		{"a new transition", enabled, disabled, true},
		{"a pending transition finished", pending, disabled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := announcedNow(tc.before, tc.after); got != tc.want {
				t.Errorf("announcedNow = %t, want %t", got, tc.want)
			}
		})
	}
}
