package scim

import (
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Two grants of sam for one group share the membership: revoking one while
// the other is Active keeps sam in the group; once the other goes too, sam
// leaves it. Both quarantine modes.
func TestMembershipKeptBySiblingOfTheSameGroup(t *testing.T) {
	for _, mode := range []accessv1alpha1.SCIMQuarantineMode{"", "Group"} {
		t.Run("mode "+string(mode), func(t *testing.T) {
			srv, target, user, group, _ := fixture(t, mode)
			ensure(t, target, accessv1alpha1.GrantActive)
			sibling := []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
			target.Siblings, target.SameEntitlement = sibling, sibling
			writes := len(srv.Writes())
			ch := ensure(t, target, accessv1alpha1.GrantRevoked)
			if !srv.Member(group, user) || !srv.Active(user) {
				t.Fatal("revoking one of two grants of the group took sam out of it")
			}
			if ch.Changed || ch.Detail != "kept in group payments-engineers: another grant of the contractor holds it" || len(srv.Writes()) != writes {
				t.Fatalf("change %+v, writes %v", ch, srv.Writes()[writes:])
			}
			target.Siblings, target.SameEntitlement = nil, nil
			if ch := ensure(t, target, ""); ch.Detail != "removed from group payments-engineers" || srv.Member(group, user) {
				t.Fatalf("with no other grant of the group, sam stayed in it: %+v", ch)
			}
		})
	}
}

// In Group mode, a quarantine moves the user to the quarantine group; an
// Active grant of the same group keeps it in its group all the same.
func TestGroupModeQuarantineKeepsTheSiblingsGroup(t *testing.T) {
	srv, target, user, group, quarantine := fixture(t, "Group")
	ensure(t, target, accessv1alpha1.GrantActive)
	sibling := []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	target.Siblings, target.SameEntitlement = sibling, sibling
	ensure(t, target, accessv1alpha1.GrantQuarantined)
	if !srv.Member(group, user) || !srv.Member(quarantine, user) {
		t.Fatal("the quarantine must add the quarantine group and keep the group another grant holds")
	}
}

// A sibling on another group keeps nothing of this one.
func TestMembershipNotKeptBySiblingOfAnotherGroup(t *testing.T) {
	srv, target, user, group, _ := fixture(t, "")
	ensure(t, target, accessv1alpha1.GrantActive)
	target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	if ch := ensure(t, target, accessv1alpha1.GrantRevoked); !ch.Changed || srv.Member(group, user) {
		t.Fatalf("sam stayed in the group: %+v", ch)
	}
}
