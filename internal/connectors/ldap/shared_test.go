package ldap

import (
	"strings"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Two grants of sam for one group share the membership: revoking one while
// the other is Active keeps sam in the group; once the other goes too, sam
// leaves it.
func TestMembershipKeptBySiblingOfTheSameGroup(t *testing.T) {
	w := fixture(t, "")
	w.ensure(t, accessv1alpha1.GrantActive)
	sibling := []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	w.target.Siblings, w.target.SameEntitlement = sibling, sibling
	ch := w.ensure(t, accessv1alpha1.GrantRevoked)
	if !w.member(t, w.group) || !w.srv.CanBind(w.user, "user-pw") {
		t.Fatal("revoking one of two grants of the group took sam out of it, or locked the account")
	}
	if ch.Changed || ch.Detail != "kept in "+w.group+": another grant of the contractor holds it" {
		t.Fatalf("change %+v", ch)
	}
	// A quarantine takes the member out of the group, so a quarantined
	// sibling keeps nothing; the account is then locked as before.
	w.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantQuarantined}
	w.target.SameEntitlement = w.target.Siblings
	if ch := w.ensure(t, accessv1alpha1.GrantRevoked); !strings.Contains(ch.Detail, "removed from "+w.group) || w.member(t, w.group) {
		t.Fatalf("a quarantined sibling kept the group: %+v", ch)
	}
	w.target.Siblings, w.target.SameEntitlement = nil, nil
	if ch := w.ensure(t, ""); strings.Contains(ch.Detail, "added to "+w.group) || w.member(t, w.group) {
		t.Fatalf("the group came back: %+v", ch)
	}
}

// A sibling on another group keeps nothing of this one; with no sibling
// left, a deleted grant takes the member out.
func TestMembershipNotKeptBySiblingOfAnotherGroup(t *testing.T) {
	w := fixture(t, "")
	w.ensure(t, accessv1alpha1.GrantActive)
	w.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	if ch := w.ensure(t, accessv1alpha1.GrantRevoked); ch.Detail != "removed from "+w.group || w.member(t, w.group) {
		t.Fatalf("sam stayed in the group: %+v", ch)
	}
	w.target.Siblings = nil
	w.ensure(t, accessv1alpha1.GrantActive)
	w.target.Siblings, w.target.SameEntitlement = []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}, []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	w.ensure(t, "")
	if !w.member(t, w.group) {
		t.Fatal("deleting one of two grants of the group took sam out of it")
	}
	w.target.Siblings, w.target.SameEntitlement = nil, nil
	if w.ensure(t, ""); w.member(t, w.group) {
		t.Fatal("with both grants gone, sam stayed in the group")
	}
}
