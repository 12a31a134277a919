package google

import (
	"errors"
	"strings"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

func TestSuspendMode(t *testing.T) {
	e := newEnv(t, "")
	if ch := e.mustApply(active); !ch.Changed || ch.Detail != "added to group "+payments {
		t.Fatalf("Active: %+v", ch)
	}
	if !e.member(payments) || e.srv.Suspended(sam) || e.srv.Sessions(sam) != 1 {
		t.Fatal("Active must add sam to the group, and neither suspend nor sign out")
	}
	writes := e.writes()
	if ch := e.mustApply(active); ch.Changed || e.writes() != writes {
		t.Fatalf("applying Active twice wrote: %+v", ch)
	}

	ch := e.mustApply(quarantined)
	if ch.Detail != "suspended the user; signed the user out of all sessions" {
		t.Fatalf("Quarantined: %q", ch.Detail)
	}
	if !e.srv.Suspended(sam) || !e.member(payments) || e.srv.Sessions(sam) != 0 {
		t.Fatal("Suspend must suspend sam, keep the membership and end the sessions")
	}
	// A periodic reconcile of the stable quarantine (From Quarantined)
	// neither writes nor signs out again.
	e.srv.AddSession(sam) // e.g. an admin let sam in again: not this grant's change
	writes, signOuts := e.writes(), e.signOuts()
	if ch := e.mustApply(quarantined); ch.Changed || e.writes() != writes || e.signOuts() != signOuts {
		t.Fatalf("applying Quarantined twice wrote: %+v", ch)
	}
	suspendRestoreAndRevoke(t, e)
}

// suspendRestoreAndRevoke restores a quarantined grant, then revokes it.
func suspendRestoreAndRevoke(t *testing.T, e *env) {
	if ch := e.mustApply(active); ch.Detail != "unsuspended the user" || e.srv.Suspended(sam) || !e.member(payments) {
		t.Fatalf("restore: %+v", ch)
	}
	if ch := e.mustApply(revoked); ch.Detail != "removed from group "+payments+"; signed the user out of all sessions" {
		t.Fatalf("Revoked: %+v", ch)
	}
	if e.member(payments) || e.srv.Suspended(sam) || e.srv.Sessions(sam) != 0 {
		t.Fatal("Revoked must remove the membership and end the sessions, and not suspend")
	}
	writes, signOuts := e.writes(), e.signOuts()
	if ch := e.mustApply(revoked); ch.Changed || e.writes() != writes || e.signOuts() != signOuts {
		t.Fatalf("applying Revoked twice wrote: %+v", ch)
	}
	if e.tokens() != 1 {
		t.Fatalf("%d token requests, want 1 (cached)", e.tokens())
	}
	e.bystanderUntouched()
}

func TestGroupModeMovesBetweenGroups(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup)
	e.mustApply(active)
	ch := e.mustApply(quarantined)
	if e.member(payments) || !e.member(quarantine) || e.srv.Suspended(sam) || e.srv.Sessions(sam) != 0 {
		t.Fatal("Group mode must move sam to the quarantine group, not suspend it, and end the sessions")
	}
	if ch.Detail != "removed from group "+payments+"; added to group "+quarantine+"; signed the user out of all sessions" {
		t.Fatalf("detail %q", ch.Detail)
	}
	if ch := e.mustApply(quarantined); ch.Changed || e.signOuts() != 1 {
		t.Fatalf("a stable quarantine: %+v", ch)
	}
	e.mustApply(active)
	if !e.member(payments) || e.member(quarantine) || e.signOuts() != 1 {
		t.Fatal("restore must move sam back, and not sign out")
	}
	e.mustApply(quarantined)
	e.mustApply(expired)
	if e.member(payments) || e.member(quarantine) || e.signOuts() != 3 {
		t.Fatalf("Expired must leave both groups and sign out: %d sign-outs", e.signOuts())
	}
	e.bystanderUntouched()
}

func TestDriftIsRepaired(t *testing.T) {
	e := newEnv(t, "")
	e.mustApply(quarantined)
	e.srv.SetSuspended(sam, false)
	if ch := e.mustApply(quarantined); ch.Detail != "suspended the user" || !e.srv.Suspended(sam) || e.signOuts() != 1 {
		t.Fatalf("a user restored out of band was not suspended again (without a sign-out): %+v", ch)
	}
	e.mustApply(revoked)
	e.srv.AddMember(payments, sam, "OWNER")
	if ch := e.mustApply(revoked); ch.Detail != "removed from group "+payments || e.member(payments) {
		t.Fatalf("a membership added out of band was not removed: %+v", ch)
	}
}

func TestQuarantinedSiblingKeepsTheAccountLocked(t *testing.T) {
	t.Run("Suspend", func(t *testing.T) {
		e := newEnv(t, "")
		e.mustApply(quarantined)
		e.mustApply(active, quarantined)
		if !e.srv.Suspended(sam) || !e.member(payments) {
			t.Fatal("a quarantined sibling must keep the user suspended")
		}
		// This grant, Active all along, never lifts a suspension: someone
		// may have suspended the user by hand. The sibling's own change
		// away from its quarantine does.
		if ch := e.mustApply(active, active); ch.Changed || !e.srv.Suspended(sam) {
			t.Fatalf("a grant that stayed Active unsuspended the user: %+v", ch)
		}
		e.target.From = quarantined
		e.mustApply(active, active)
		if e.srv.Suspended(sam) {
			t.Fatal("the user stays suspended after the sibling's restore")
		}
		// A sibling's quarantine suspends the user again while this grant
		// stays Active: this grant signs nobody out.
		signOuts := e.signOuts()
		if ch := e.mustApply(active, quarantined); ch.Detail != "suspended the user" || e.signOuts() != signOuts {
			t.Fatalf("the sibling's quarantine: %+v", ch)
		}
		e.mustApply(revoked, quarantined)
		if !e.srv.Suspended(sam) || e.member(payments) {
			t.Fatal("revoking beside a quarantined sibling must leave the user suspended and the group")
		}
	})
	t.Run("Group", func(t *testing.T) {
		e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup)
		e.mustApply(active, quarantined)
		if !e.member(payments) || !e.member(quarantine) {
			t.Fatal("the quarantine group is the account's: sam stays in it while a sibling is quarantined")
		}
		e.mustApply(active)
		if e.member(quarantine) {
			t.Fatal("sam stays in the quarantine group with no grant quarantined")
		}
	})
}

func TestSignOutIsRetriedAfterAFailureHalfway(t *testing.T) {
	e := newEnv(t, "")
	e.mustApply(active)
	e.srv.InjectFault(dirBase+"users/"+e.samID+"/signOut", 1, 500)
	ch, err := e.apply(quarantined)
	if err == nil || !ch.Changed || ch.Detail != "suspended the user" || !strings.Contains(err.Error(), "500") {
		t.Fatalf("a failing sign-out: %+v, %v", ch, err)
	}
	if !e.srv.Suspended(sam) || e.srv.Sessions(sam) != 1 || e.target.From != active {
		t.Fatal("the first attempt should have suspended the user only, and not moved From")
	}
	if ch := e.mustApply(quarantined); ch.Detail != "signed the user out of all sessions" || e.srv.Sessions(sam) != 0 {
		t.Fatalf("the retry did not sign the user out: %+v", ch)
	}
	signOuts := e.signOuts()
	if ch := e.mustApply(quarantined); ch.Changed || e.signOuts() != signOuts {
		t.Fatalf("a stable quarantine signed out again: %+v", ch)
	}
}

func TestAFailureHalfwayStillSignsOut(t *testing.T) {
	e := newEnv(t, "")
	e.mustApply(active)
	e.srv.InjectFault(dirBase+"users/"+e.samID, 1, 503) // the suspension
	ch, err := e.apply(quarantined)
	if !errors.Is(err, connectors.ErrUnreachable) || ch.Detail != "signed the user out of all sessions" || e.srv.Sessions(sam) != 0 {
		t.Fatalf("a failing suspension: %+v, %v", ch, err)
	}
	if ch := e.mustApply(quarantined); ch.Detail != "suspended the user; signed the user out of all sessions" {
		t.Fatalf("the retry: %+v", ch)
	}
}

func TestAFailureHalfwayOfAStableStateSignsNobodyOut(t *testing.T) {
	e := newEnv(t, "")
	e.mustApply(quarantined)
	e.srv.SetSuspended(sam, false)
	e.srv.InjectFault(dirBase+"users/"+e.samID, 1, 503)
	signOuts := e.signOuts()
	if _, err := e.apply(quarantined); !errors.Is(err, connectors.ErrUnreachable) || e.signOuts() != signOuts {
		t.Fatalf("a failing drift repair: %v, %d sign-outs, want %d", err, e.signOuts(), signOuts)
	}
	if ch := e.mustApply(quarantined); ch.Detail != "suspended the user" || e.signOuts() != signOuts {
		t.Fatalf("the drift repair: %+v", ch)
	}
}

func TestRevokedExpiredAndRemovedSignOutOnce(t *testing.T) {
	for _, s := range []accessv1alpha1.GrantState{revoked, expired, removed} {
		t.Run(string(s), func(t *testing.T) {
			e := newEnv(t, "")
			e.mustApply(active)
			if ch := e.mustApply(s); ch.Detail != "removed from group "+payments+"; signed the user out of all sessions" {
				t.Fatalf("%q: %+v", s, ch)
			}
			if ch := e.mustApply(s); ch.Changed || e.signOuts() != 1 {
				t.Fatalf("%q applied twice: %+v, %d sign-outs, want 1", s, ch, e.signOuts())
			}
		})
	}
}

func TestActiveNeverSignsOut(t *testing.T) {
	for _, from := range []accessv1alpha1.GrantState{"", active, quarantined, revoked} {
		e := newEnv(t, "")
		e.target.From = from
		e.mustApply(active)
		if e.signOuts() != 0 || e.srv.Sessions(sam) != 1 {
			t.Fatalf("Active from %q signed the user out", from)
		}
	}
}

func TestUsersThatDoNotExist(t *testing.T) {
	e := newEnv(t, "")
	e.target.Account = "gone@example.com"
	for _, s := range []accessv1alpha1.GrantState{revoked, expired, removed} {
		if ch, err := e.apply(s); err != nil || ch.Changed {
			t.Fatalf("%q for a missing user: %+v %v", s, ch, err)
		}
	}
	for _, s := range []accessv1alpha1.GrantState{active, quarantined} {
		if _, err := e.apply(s); err == nil || !strings.Contains(err.Error(), `no Google Workspace user "gone@example.com"`) {
			t.Fatalf("%s for a missing user: %v", s, err)
		}
	}
	e.target.Account = ""
	if ch, err := e.apply(active); err != nil || ch.Changed {
		t.Fatalf("no account: %+v %v", ch, err)
	}
	if e.tokens() != 1 {
		t.Fatalf("%d token requests", e.tokens())
	}
}

func TestMissingGroup(t *testing.T) {
	e := newEnv(t, "")
	e.target.Grant.Spec.Entitlement.Name = "no-such-group@example.com"
	if _, err := e.apply(active); err == nil || !strings.Contains(err.Error(), `no Google Workspace group "no-such-group@example.com"`) {
		t.Fatalf("Active for a missing group: %v", err)
	}
	// A quarantine still suspends the user and signs it out.
	if _, err := e.apply(quarantined); err == nil || !e.srv.Suspended(sam) || e.srv.Sessions(sam) != 0 {
		t.Fatalf("quarantine with a missing group: %v", err)
	}
	if ch, err := e.apply(removed); err != nil || ch.Detail != "signed the user out of all sessions" {
		t.Fatalf("removal with a missing group: %+v %v", ch, err)
	}
}

func TestTheAdminItselfIsRefused(t *testing.T) {
	e := newEnv(t, "")
	e.target.Account = "ADMIN@example.com"
	if _, err := e.apply(quarantined); err == nil || !strings.Contains(err.Error(), "adminEmail") || e.srv.Suspended(adminEmail) {
		t.Fatalf("quarantining the admin: %v", err)
	}
}

func TestGroupModeNeedsAnotherGroup(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup)
	e.target.System.Spec.Google.QuarantineGroup = strings.ToUpper(payments)
	if _, err := e.apply(quarantined); err == nil || !strings.Contains(err.Error(), "the grant's own group") || e.writes() != e.signOuts() {
		t.Fatalf("the grant's group as quarantine group: %v", err)
	}
}
