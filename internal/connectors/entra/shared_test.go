package entra

import (
	"strings"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Two grants of sam for one group share the membership: revoking one while
// the other is Active keeps sam in the group, and still revokes the
// sessions; once the other goes too, sam leaves it.
func TestMembershipKeptBySiblingOfTheSameGroup(t *testing.T) {
	for _, mode := range []accessv1alpha1.IdentityQuarantineMode{accessv1alpha1.IdentityQuarantineSuspend, accessv1alpha1.IdentityQuarantineGroup} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, envOpts{mode: mode})
			e.mustApply(active)
			e.target.SameEntitlement = []accessv1alpha1.GrantState{active}
			revokes := e.revokes()
			ch := e.mustApply(revoked, active)
			if !e.member(e.group) {
				t.Fatal("revoking one of two grants of the group took sam out of it")
			}
			want := "kept in group payments-engineers: another grant of the contractor holds it; revoked the sign-in sessions"
			if ch.Detail != want || e.revokes() != revokes+1 {
				t.Fatalf("detail %q", ch.Detail)
			}
			writes := e.writes()
			if ch := e.mustApply(revoked, active); ch.Changed || e.writes() != writes {
				t.Fatalf("re-applying the revocation wrote: %+v", ch)
			}
			e.target.SameEntitlement = nil
			if ch := e.mustApply(removed); !strings.Contains(ch.Detail, "removed from group payments-engineers") || e.member(e.group) {
				t.Fatalf("with no other grant of the group, sam stayed in it: %+v", ch)
			}
		})
	}
}

// In Group mode a quarantine moves the user to the quarantine group; an
// Active grant of the same group keeps it in its group all the same.
func TestGroupModeQuarantineKeepsTheSiblingsGroup(t *testing.T) {
	e := newEnv(t, envOpts{mode: accessv1alpha1.IdentityQuarantineGroup})
	e.mustApply(active)
	e.target.SameEntitlement = []accessv1alpha1.GrantState{active}
	e.mustApply(quarantined, active)
	if !e.member(e.group) || !e.member(e.quarantine) {
		t.Fatal("the quarantine must add the quarantine group and keep the group another grant holds")
	}
}

// A sibling on another group, or one that holds nothing, keeps nothing.
func TestMembershipNotKeptByOtherSiblings(t *testing.T) {
	for name, same := range map[string][]accessv1alpha1.GrantState{"another group": nil, "revoked": {revoked}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{mode: accessv1alpha1.IdentityQuarantineSuspend})
			e.mustApply(active)
			e.target.SameEntitlement = same
			if ch := e.mustApply(revoked, append([]accessv1alpha1.GrantState{active}, same...)...); e.member(e.group) || !ch.Changed {
				t.Fatalf("sam stayed in the group: %+v", ch)
			}
		})
	}
}
