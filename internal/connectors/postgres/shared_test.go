package postgres

import (
	"context"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Two grants of the contractor for one role share the role grant: revoking
// one while the other is Active keeps the role (the sessions end, once, on
// the change); once the other goes too, the role is revoked.
func TestRoleKeptBySiblingOfTheSameRole(t *testing.T) {
	srv, target := fixture(t)
	c := &Connector{}
	ensure(t, c, target, accessv1alpha1.GrantActive)
	sibling := []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	target.Siblings, target.SameEntitlement = sibling, sibling

	session := connect(t, srv.DSN(account, accountPass))
	defer func() { _ = session.Close(context.Background()) }()
	target.From = accessv1alpha1.GrantActive
	ch := ensure(t, c, target, accessv1alpha1.GrantRevoked)
	if o := state(t, srv); !o.member || !o.canLogin {
		t.Fatalf("revoking one of two grants of the role took it away: %+v", o)
	}
	if want := "kept the role " + role + ": another grant of the contractor holds it; ended live sessions"; ch.Detail != want {
		t.Fatalf("detail %q, want %q", ch.Detail, want)
	}
	if err := session.Ping(context.Background()); err == nil {
		t.Fatal("the sessions survived the change to Revoked")
	}
	// Re-applied, nothing happens: no session is ended again.
	again := connect(t, srv.DSN(account, accountPass))
	defer func() { _ = again.Close(context.Background()) }()
	target.From = accessv1alpha1.GrantRevoked
	if ch := ensure(t, c, target, accessv1alpha1.GrantRevoked); ch.Changed {
		t.Fatalf("re-applying the revocation changed the server: %+v", ch)
	}
	if err := again.Ping(context.Background()); err != nil {
		t.Fatalf("re-applying the revocation ended a session: %v", err)
	}

	target.Siblings, target.SameEntitlement = nil, nil
	target.From = ""
	if ch := ensure(t, c, target, ""); !ch.Changed || state(t, srv).member {
		t.Fatalf("with no other grant of the role, it stayed: %+v", ch)
	}
}

// A sibling on another role keeps nothing of this one.
func TestRoleNotKeptBySiblingOfAnotherRole(t *testing.T) {
	srv, target := fixture(t)
	c := &Connector{}
	ensure(t, c, target, accessv1alpha1.GrantActive)
	target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	if ch := ensure(t, c, target, accessv1alpha1.GrantRevoked); !ch.Changed || state(t, srv).member {
		t.Fatalf("the role stayed: %+v", ch)
	}
	if !state(t, srv).canLogin {
		t.Fatal("an Active sibling keeps the login")
	}
}
