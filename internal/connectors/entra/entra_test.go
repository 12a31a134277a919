package entra

import (
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

const (
	active      = accessv1alpha1.GrantActive
	quarantined = accessv1alpha1.GrantQuarantined
	revoked     = accessv1alpha1.GrantRevoked
	expired     = accessv1alpha1.GrantExpired
	removed     = accessv1alpha1.GrantState("")
)

func TestSuspendModeWithBothCredentialKinds(t *testing.T) {
	for name, cert := range map[string]bool{"secret": false, "certificate": true} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{cert: cert})
			suspendQuarantine(t, e)
			suspendRestoreAndRevoke(t, e)
		})
	}
}

// suspendQuarantine applies Active, then Quarantined, each twice.
func suspendQuarantine(t *testing.T, e *env) {
	created := e.srv.SessionsRevokedAt(samUPN)

	if ch := e.mustApply(active); !ch.Changed || !strings.Contains(ch.Detail, "added to group payments-engineers") {
		t.Fatalf("Active: %+v", ch)
	}
	if !e.member(e.group) || !e.srv.AccountEnabled(samUPN) {
		t.Fatal("Active did not make sam an enabled member")
	}
	if !e.srv.SessionsRevokedAt(samUPN).Equal(created) {
		t.Fatal("Active revoked sessions")
	}
	writes := e.writes()
	if ch := e.mustApply(active); ch.Changed || e.writes() != writes {
		t.Fatalf("applying Active twice wrote: %+v", ch)
	}

	e.clock.Advance(2 * time.Second)
	ch := e.mustApply(quarantined)
	if e.srv.AccountEnabled(samUPN) || !e.member(e.group) {
		t.Fatal("Suspend must disable the account and keep the membership")
	}
	if !e.srv.SessionsRevokedAt(samUPN).After(created) {
		t.Fatal("quarantine did not revoke the sessions")
	}
	if ch.Detail != "disabled the account; revoked the sign-in sessions" {
		t.Fatalf("detail %q", ch.Detail)
	}
	// A periodic reconcile of the stable quarantine (From Quarantined)
	// neither writes nor revokes the sessions again.
	writes, revokes := e.writes(), e.revokes()
	e.clock.Advance(2 * time.Second)
	if ch := e.mustApply(quarantined); ch.Changed || e.writes() != writes || e.revokes() != revokes {
		t.Fatalf("applying Quarantined twice wrote: %+v", ch)
	}
}

// suspendRestoreAndRevoke restores a quarantined grant, then revokes it.
func suspendRestoreAndRevoke(t *testing.T, e *env) {
	e.mustApply(active)
	if !e.srv.AccountEnabled(samUPN) || !e.member(e.group) {
		t.Fatal("restore did not re-enable the account")
	}
	before := e.srv.SessionsRevokedAt(samUPN)
	e.clock.Advance(2 * time.Second)
	e.mustApply(revoked)
	if e.member(e.group) || !e.srv.SessionsRevokedAt(samUPN).After(before) {
		t.Fatal("Revoked must remove the membership and revoke the sessions")
	}
	if !e.srv.AccountEnabled(samUPN) {
		t.Fatal("revoking a grant must not disable the account")
	}
	writes, revokes := e.writes(), e.revokes()
	if ch := e.mustApply(revoked); ch.Changed || e.writes() != writes || e.revokes() != revokes {
		t.Fatalf("applying Revoked twice wrote: %+v", ch)
	}
	if n := e.srv.Requests("POST", e.tokenPath); n != 1 {
		t.Fatalf("%d token requests, want 1 (cached)", n)
	}
}

func TestGroupModeMovesBetweenGroups(t *testing.T) {
	e := newEnv(t, envOpts{mode: accessv1alpha1.IdentityQuarantineGroup, cert: true})
	e.mustApply(active)
	e.clock.Advance(2 * time.Second)
	created := e.srv.SessionsRevokedAt(samUPN)
	ch := e.mustApply(quarantined)
	if e.member(e.group) || !e.member(e.quarantine) || !e.srv.AccountEnabled(samUPN) {
		t.Fatal("Group mode must move sam to the quarantine group and keep the account enabled")
	}
	if !e.srv.SessionsRevokedAt(samUPN).After(created) {
		t.Fatal("quarantine did not revoke the sessions")
	}
	if ch.Detail != "removed from group payments-engineers; added to group quarantine; revoked the sign-in sessions" {
		t.Fatalf("detail %q", ch.Detail)
	}
	e.mustApply(active)
	if !e.member(e.group) || e.member(e.quarantine) {
		t.Fatal("restore must move sam back")
	}
	e.clock.Advance(2 * time.Second)
	before := e.srv.SessionsRevokedAt(samUPN)
	e.mustApply(quarantined)
	e.clock.Advance(2 * time.Second)
	mid := e.srv.SessionsRevokedAt(samUPN)
	e.mustApply(expired)
	if e.member(e.group) || e.member(e.quarantine) {
		t.Fatal("Expired must leave both groups")
	}
	if !mid.After(before) || !e.srv.SessionsRevokedAt(samUPN).After(mid) {
		t.Fatal("each transition must revoke the sessions")
	}
}

func TestDriftIsRepaired(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mustApply(quarantined)
	e.srv.SetAccountEnabled(samUPN, true)
	if ch := e.mustApply(quarantined); ch.Detail != "disabled the account" || e.srv.AccountEnabled(samUPN) {
		t.Fatalf("an account enabled out of band was not disabled again: %+v", ch)
	}
	e.mustApply(revoked)
	if err := e.srv.AddMember(e.group, samUPN); err != nil {
		t.Fatal(err)
	}
	if ch := e.mustApply(revoked); ch.Detail != "removed from group payments-engineers" || e.member(e.group) {
		t.Fatalf("a membership added out of band was not removed: %+v", ch)
	}
}

func TestQuarantinedSiblingKeepsTheAccountLocked(t *testing.T) {
	t.Run("Suspend", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.mustApply(quarantined)
		e.mustApply(active, quarantined)
		if e.srv.AccountEnabled(samUPN) || !e.member(e.group) {
			t.Fatal("a quarantined sibling must keep the account disabled")
		}
		// This grant, Active all along, never re-enables the account:
		// someone may have disabled it by hand. The sibling's own change
		// away from its quarantine does.
		if ch := e.mustApply(active, active); ch.Changed || e.srv.AccountEnabled(samUPN) {
			t.Fatalf("a grant that stayed Active re-enabled the account: %+v", ch)
		}
		e.target.From = quarantined
		e.mustApply(active, active)
		if !e.srv.AccountEnabled(samUPN) {
			t.Fatal("the account stays disabled after the sibling's restore")
		}
		// A sibling's quarantine disables the account again while this
		// grant stays Active: this grant revokes nothing.
		revokes := e.revokes()
		if ch := e.mustApply(active, quarantined); ch.Detail != "disabled the account" || e.srv.AccountEnabled(samUPN) || e.revokes() != revokes {
			t.Fatalf("the sibling's quarantine: %+v, %d revocations, want %d", ch, e.revokes(), revokes)
		}
		e.mustApply(revoked, quarantined)
		if e.srv.AccountEnabled(samUPN) || e.member(e.group) {
			t.Fatal("revoking beside a quarantined sibling must leave the account disabled and the group")
		}
	})
	t.Run("Group", func(t *testing.T) {
		e := newEnv(t, envOpts{mode: accessv1alpha1.IdentityQuarantineGroup})
		e.mustApply(active, quarantined)
		if !e.member(e.group) || !e.member(e.quarantine) {
			t.Fatal("the quarantine group is the account's: sam stays in it while a sibling is quarantined")
		}
		e.mustApply(active)
		if e.member(e.quarantine) {
			t.Fatal("sam stays in the quarantine group with no grant quarantined")
		}
	})
}

// A step that fails does not hold the revocation back: a revoke whose
// membership removal fails still cuts the user's sessions, and is retried
// whole.
func TestSessionsAreRevokedWhenAStepFails(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mustApply(active)
	e.clock.Advance(2 * time.Second)
	created := e.srv.SessionsRevokedAt(samUPN)
	e.srv.FailNext("/v1.0/groups/"+e.group+"/members/"+e.sam+"/$ref", 500, 1)
	if _, err := e.apply(revoked); err == nil {
		t.Fatal("the failing step's error is lost")
	}
	if !e.srv.SessionsRevokedAt(samUPN).After(created) || !e.member(e.group) {
		t.Fatal("a failed step held the session revocation back")
	}
	if ch := e.mustApply(revoked); e.member(e.group) || ch.Detail != "removed from group payments-engineers; revoked the sign-in sessions" {
		t.Fatalf("the retry: %+v", ch)
	}
}

func TestSessionsAreRevokedAfterAFailureHalfway(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mustApply(active)
	e.clock.Advance(2 * time.Second)
	created := e.srv.SessionsRevokedAt(samUPN)
	e.srv.FailNext(e.revokePath, 500, 1)
	ch, err := e.apply(quarantined)
	if err == nil || !ch.Changed || ch.Detail != "disabled the account" {
		t.Fatalf("a failing revoke: %+v, %v", ch, err)
	}
	if e.srv.AccountEnabled(samUPN) || !e.srv.SessionsRevokedAt(samUPN).Equal(created) {
		t.Fatal("the first attempt should have disabled the account only")
	}
	if e.target.From != active {
		t.Fatalf("a failed change must not move From: %q", e.target.From)
	}
	ch = e.mustApply(quarantined) // the same change, retried From Active
	if ch.Detail != "revoked the sign-in sessions" || !e.srv.SessionsRevokedAt(samUPN).After(created) {
		t.Fatalf("the retry did not revoke the sessions: %+v", ch)
	}

	// Applied in full: a periodic reconcile revokes no more.
	revokes := e.revokes()
	if ch := e.mustApply(quarantined); ch.Changed || e.revokes() != revokes {
		t.Fatalf("a stable quarantine revoked again: %+v", ch)
	}

	// A success whose status the controller failed to record is retried
	// From the earlier state: the sessions are revoked again (at least
	// once per change).
	e.mustApply(active)
	e.mustApply(quarantined)
	revokes = e.revokes()
	e.target.From = active // the controller failed to record the success
	if ch := e.mustApply(quarantined); ch.Detail != "revoked the sign-in sessions" || e.revokes() != revokes+1 {
		t.Fatalf("the retry of an unrecorded change: %+v", ch)
	}
}

func TestRevokedAndRemovedRevokeOnce(t *testing.T) {
	for _, s := range []accessv1alpha1.GrantState{revoked, expired, removed} {
		t.Run(string(s), func(t *testing.T) {
			e := newEnv(t, envOpts{})
			e.mustApply(active)
			if ch := e.mustApply(s); ch.Detail != "removed from group payments-engineers; revoked the sign-in sessions" {
				t.Fatalf("%q: %+v", s, ch)
			}
			if ch := e.mustApply(s); ch.Changed || e.revokes() != 1 {
				t.Fatalf("%q applied twice: %+v, %d revocations, want 1", s, ch, e.revokes())
			}
		})
	}
}

func TestActiveNeverRevokes(t *testing.T) {
	for _, from := range []accessv1alpha1.GrantState{"", active, quarantined, revoked} {
		e := newEnv(t, envOpts{})
		e.target.From = from
		e.mustApply(active)
		if e.revokes() != 0 {
			t.Fatalf("Active from %q revoked the sessions", from)
		}
	}
}

func TestUsersThatDoNotExist(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.target.Account = "gone@contoso.onmicrosoft.com"
	for _, s := range []accessv1alpha1.GrantState{revoked, expired, removed} {
		if ch, err := e.apply(s); err != nil || ch.Changed {
			t.Fatalf("%q for a missing user: %+v %v", s, ch, err)
		}
	}
	for _, s := range []accessv1alpha1.GrantState{active, quarantined} {
		if _, err := e.apply(s); err == nil || !strings.Contains(err.Error(), `no Entra ID user "gone@contoso.onmicrosoft.com"`) {
			t.Fatalf("%s for a missing user: %v", s, err)
		}
	}
	e.target.Account = ""
	if ch, err := e.apply(active); err != nil || ch.Changed {
		t.Fatalf("no account: %+v %v", ch, err)
	}
}

func TestMissingGroup(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.target.Grant.Spec.Entitlement.Name = "no-such-group"
	if _, err := e.apply(active); err == nil || !strings.Contains(err.Error(), `no Entra ID group has the displayName "no-such-group"`) {
		t.Fatalf("Active for a missing group: %v", err)
	}
	// A quarantine still locks the account before it fails on the group.
	if _, err := e.apply(quarantined); err == nil || e.srv.AccountEnabled(samUPN) {
		t.Fatalf("quarantine with a missing group: %v, enabled=%t", err, e.srv.AccountEnabled(samUPN))
	}
	if ch, err := e.apply(removed); err != nil || ch.Detail != "revoked the sign-in sessions" {
		t.Fatalf("removal with a missing group: %+v %v", ch, err)
	}
}
