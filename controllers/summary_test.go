package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestSummariseGrants(t *testing.T) {
	grant := func(state accessv1alpha1.GrantState, action accessv1alpha1.DecisionAction) accessv1alpha1.AccessGrant {
		g := accessv1alpha1.AccessGrant{}
		if state != "" {
			g.Status.Enforcement = &accessv1alpha1.Enforcement{State: state}
		}
		if action != "" {
			g.Status.Decision = &accessv1alpha1.Decision{Action: action}
		}
		return g
	}
	counts, worst := summariseGrants([]accessv1alpha1.AccessGrant{
		grant(accessv1alpha1.GrantActive, accessv1alpha1.ActionAllow),
		grant(accessv1alpha1.GrantQuarantined, accessv1alpha1.ActionQuarantine),
		grant(accessv1alpha1.GrantRevoked, accessv1alpha1.ActionRevoke),
		grant(accessv1alpha1.GrantExpired, ""),
		grant("", ""),
	})
	want := accessv1alpha1.GrantCounts{Total: 5, Active: 1, Quarantined: 1, Revoked: 1, Expired: 1}
	if counts != want {
		t.Errorf("counts = %+v, want %+v", counts, want)
	}
	if worst != accessv1alpha1.ActionRevoke {
		t.Errorf("worst = %q, want Revoke", worst)
	}
	if _, worst := summariseGrants(nil); worst != "" {
		t.Errorf("worst of no grants = %q, want empty", worst)
	}
}

func TestCountActiveFindings(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	finding := func(expires *time.Time) accessv1alpha1.Finding {
		f := accessv1alpha1.Finding{}
		if expires != nil {
			f.Spec.ExpiresAt = &metav1.Time{Time: *expires}
		}
		return f
	}
	past, future := now.Add(-time.Second), now.Add(time.Second)
	got := countActiveFindings([]accessv1alpha1.Finding{finding(nil), finding(&past), finding(&future), finding(&now)}, now)
	if got != 2 {
		t.Errorf("countActiveFindings = %d, want 2 (no expiry and future expiry)", got)
	}
}

func TestUntilExpiry(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if d := untilExpiry(nil, now); d != 0 {
		t.Errorf("no expiry: %v, want 0", d)
	}
	if d := untilExpiry(&metav1.Time{Time: now.Add(time.Minute)}, now); d != time.Minute {
		t.Errorf("a minute ahead: %v", d)
	}
	if d := untilExpiry(&metav1.Time{Time: now.Add(-time.Minute)}, now); d <= 0 {
		t.Errorf("past expiry must requeue soon, got %v", d)
	}
}
