package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

func TestDesiredState(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	grant := func(applied accessv1alpha1.GrantState, expires *time.Time) *accessv1alpha1.AccessGrant {
		g := &accessv1alpha1.AccessGrant{}
		if applied != "" {
			g.Status.Enforcement = &accessv1alpha1.Enforcement{State: applied}
		}
		if expires != nil {
			g.Spec.ExpiresAt = &metav1.Time{Time: *expires}
		}
		return g
	}
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	tests := []struct {
		name     string
		grant    *accessv1alpha1.AccessGrant
		action   accessv1alpha1.DecisionAction
		desired  accessv1alpha1.GrantState
		recorded bool
	}{
		{"new and allowed", grant("", nil), accessv1alpha1.ActionAllow, accessv1alpha1.GrantActive, false},
		{"quarantine", grant(accessv1alpha1.GrantActive, nil), accessv1alpha1.ActionQuarantine, accessv1alpha1.GrantQuarantined, false},
		{"quarantine lifted", grant(accessv1alpha1.GrantQuarantined, nil), accessv1alpha1.ActionAllow, accessv1alpha1.GrantActive, false},
		{"revoke", grant(accessv1alpha1.GrantQuarantined, nil), accessv1alpha1.ActionRevoke, accessv1alpha1.GrantRevoked, false},
		{"revoked is terminal", grant(accessv1alpha1.GrantRevoked, nil), accessv1alpha1.ActionAllow, accessv1alpha1.GrantRevoked, false},
		{"revoked stays revoked past expiry", grant(accessv1alpha1.GrantRevoked, &past), accessv1alpha1.ActionAllow, accessv1alpha1.GrantRevoked, false},
		{"expired", grant(accessv1alpha1.GrantActive, &past), accessv1alpha1.ActionAllow, accessv1alpha1.GrantExpired, false},
		{"expiry beats quarantine", grant(accessv1alpha1.GrantActive, &past), accessv1alpha1.ActionQuarantine, accessv1alpha1.GrantExpired, false},
		{"not yet expired", grant(accessv1alpha1.GrantActive, &future), accessv1alpha1.ActionAllow, accessv1alpha1.GrantActive, false},
		{"extended after expiry", grant(accessv1alpha1.GrantExpired, &future), accessv1alpha1.ActionAllow, accessv1alpha1.GrantActive, false},
		{"a new grant of a recorded revocation", grant("", nil), accessv1alpha1.ActionAllow, accessv1alpha1.GrantRevoked, true},
		{"a recorded revocation beats expiry", grant(accessv1alpha1.GrantActive, &past), accessv1alpha1.ActionAllow, accessv1alpha1.GrantRevoked, true},
	}
	for _, tt := range tests {
		if got := desiredState(tt.grant, tt.action, tt.recorded, now); got != tt.desired {
			t.Errorf("%s: desiredState = %s, want %s", tt.name, got, tt.desired)
		}
	}
}

func TestRestrictive(t *testing.T) {
	tests := []struct {
		applied, desired accessv1alpha1.GrantState
		want             bool
	}{
		{accessv1alpha1.GrantActive, accessv1alpha1.GrantQuarantined, true},
		{accessv1alpha1.GrantPending, accessv1alpha1.GrantRevoked, true},
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantRevoked, true},
		{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantActive, false},
		{accessv1alpha1.GrantActive, accessv1alpha1.GrantExpired, false},
		{accessv1alpha1.GrantRevoked, accessv1alpha1.GrantRevoked, false},
	}
	for _, tt := range tests {
		if got := restrictive(tt.applied, tt.desired); got != tt.want {
			t.Errorf("restrictive(%s, %s) = %v, want %v", tt.applied, tt.desired, got, tt.want)
		}
	}
}

func TestAPIDecisionKeepsEvaluatedAtWhileUnchanged(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	d := &policy.Decision{Action: accessv1alpha1.ActionQuarantine, Revision: "r1",
		Reasons: []policy.Reason{{Policy: "p", Rule: "quarantine", Code: "C", Message: "m", Severity: "High"}}}
	first := apiDecision(d, nil, t0)
	second := apiDecision(d, first, t0.Add(time.Minute))
	if !second.EvaluatedAt.Equal(&first.EvaluatedAt) {
		t.Error("an unchanged decision got a new evaluatedAt, so every reconcile would write status")
	}
	d.Revision = "r2"
	third := apiDecision(d, second, t0.Add(2*time.Minute))
	if !third.EvaluatedAt.Equal(&first.EvaluatedAt) || third.PolicyRevision != "r1" {
		t.Error("a new policy revision with the same outcome rewrote the decision")
	}
	d.Reasons[0].Code = "Other"
	fourth := apiDecision(d, third, t0.Add(3*time.Minute))
	if fourth.EvaluatedAt.Equal(&third.EvaluatedAt) || fourth.PolicyRevision != "r2" {
		t.Error("a changed outcome kept the old decision")
	}
}
