package okta

import (
	"strings"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

// Two grants of sam for one group share the membership: revoking one while
// the other is Active keeps sam in the group, and still ends the sessions;
// once the other goes too, sam leaves it.
func TestMembershipKeptBySiblingOfTheSameGroup(t *testing.T) {
	for _, mode := range []accessv1alpha1.IdentityQuarantineMode{accessv1alpha1.IdentityQuarantineSuspend, accessv1alpha1.IdentityQuarantineGroup} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, mode, false, oktaserver.Options{})
			e.ensure(t, "t1", accessv1alpha1.GrantActive)
			e.srv.AddSession(e.sam)
			sibling := []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
			e.target.Siblings, e.target.SameEntitlement = sibling, sibling
			ch := e.ensure(t, "t2", accessv1alpha1.GrantRevoked)
			if !e.member(e.payments, login) {
				t.Fatal("revoking one of two grants of the group took sam out of it")
			}
			want := "kept in group payments-engineers: another grant of the contractor holds it; ended the user's sessions"
			if ch.Detail != want || e.srv.Sessions(e.sam) != 0 {
				t.Fatalf("detail %q, %d sessions", ch.Detail, e.srv.Sessions(e.sam))
			}
			writes := e.writes()
			if ch := e.ensure(t, "t3", accessv1alpha1.GrantRevoked); ch.Changed || e.writes() != writes {
				t.Fatalf("re-applying the revocation wrote: %+v", ch)
			}
			e.target.Siblings, e.target.SameEntitlement = nil, nil
			if ch := e.ensure(t, "t4", ""); !strings.Contains(ch.Detail, "removed from group payments-engineers") || e.member(e.payments, login) {
				t.Fatalf("with no other grant of the group, sam stayed in it: %+v", ch)
			}
			e.bystanderUntouched(t)
		})
	}
}

// In Group mode a quarantine moves the user to the quarantine group; an
// Active grant of the same group keeps it in its group all the same.
func TestGroupModeQuarantineKeepsTheSiblingsGroup(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup, false, oktaserver.Options{})
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	sibling := []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	e.target.Siblings, e.target.SameEntitlement = sibling, sibling
	e.ensure(t, "t2", accessv1alpha1.GrantQuarantined)
	if !e.member(e.payments, login) || !e.member(e.quarantine, login) {
		t.Fatal("the quarantine must add the quarantine group and keep the group another grant holds")
	}
}

// A sibling on another group, or one that holds nothing, keeps nothing.
func TestMembershipNotKeptByOtherSiblings(t *testing.T) {
	for name, same := range map[string][]accessv1alpha1.GrantState{
		"another group": nil,
		"revoked":       {accessv1alpha1.GrantRevoked},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, accessv1alpha1.IdentityQuarantineSuspend, false, oktaserver.Options{})
			e.ensure(t, "t1", accessv1alpha1.GrantActive)
			e.target.Siblings = append([]accessv1alpha1.GrantState{accessv1alpha1.GrantActive}, same...)
			e.target.SameEntitlement = same
			if ch := e.ensure(t, "t2", accessv1alpha1.GrantRevoked); e.member(e.payments, login) || !ch.Changed {
				t.Fatalf("sam stayed in the group: %+v", ch)
			}
		})
	}
}
