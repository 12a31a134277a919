package ldap

import (
	"context"
	"errors"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/test/ldapserver"
)

type world struct {
	srv                     *ldapserver.Server
	target                  connectors.Target
	user, group, quarantine string
}

func fixture(t *testing.T, attr accessv1alpha1.LDAPMemberAttribute) world {
	t.Helper()
	srv := ldapserver.Start(t)
	user, err := srv.AddUser(`sam,o'neil`, "user-pw")
	if err != nil {
		t.Fatal(err)
	}
	group, err := srv.AddGroup("payments")
	if err != nil {
		t.Fatal(err)
	}
	quarantine, err := srv.AddGroup("quarantine")
	if err != nil {
		t.Fatal(err)
	}
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "dir"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeLDAP, Insecure: true, // the test slapd is ldap://
			LDAP: &accessv1alpha1.LDAPSettings{URL: srv.URL, MemberAttribute: attr, QuarantineGroupDN: quarantine}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: group}}}
	return world{srv: srv, user: user, group: group, quarantine: quarantine, target: connectors.Target{
		Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{}, Account: user,
		Credentials: map[string][]byte{KeyBindDN: []byte(ldapserver.AdminDN), KeyPassword: []byte(ldapserver.AdminPW)},
	}}
}

func (w world) ensure(t *testing.T, s accessv1alpha1.GrantState) connectors.Change {
	t.Helper()
	ch, err := (&Connector{}).Ensure(context.Background(), w.target, s)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", s, err)
	}
	return ch
}

func (w world) member(t *testing.T, group string) bool {
	t.Helper()
	values, err := w.srv.Values(group, "member")
	if err != nil {
		t.Fatal(err)
	}
	return containsDN(values, w.user)
}

// containsDN reports whether values hold dn, compared as DNs.
func containsDN(values []string, dn string) bool {
	want, err := goldap.ParseDN(dn)
	if err != nil {
		return false
	}
	for _, v := range values {
		if got, err := goldap.ParseDN(v); err == nil && got.EqualFold(want) {
			return true
		}
	}
	return false
}

func TestLifecycleAgainstSlapd(t *testing.T) {
	w := fixture(t, "")
	w.ensure(t, accessv1alpha1.GrantActive)
	if !w.member(t, w.group) || !w.srv.CanBind(w.user, "user-pw") {
		t.Fatal("active: not a member or cannot bind")
	}
	if ch := w.ensure(t, accessv1alpha1.GrantActive); ch.Changed {
		t.Fatalf("applying Active twice changed the directory: %s", ch.Detail)
	}

	w.ensure(t, accessv1alpha1.GrantQuarantined)
	if w.member(t, w.group) || !w.member(t, w.quarantine) {
		t.Fatal("quarantine must move the account to the quarantine group")
	}
	if w.srv.CanBind(w.user, "user-pw") {
		t.Fatal("a quarantined account can still bind: it was not locked")
	}
	if ch := w.ensure(t, accessv1alpha1.GrantQuarantined); ch.Changed {
		t.Fatalf("applying Quarantined twice changed the directory: %s", ch.Detail)
	}

	w.ensure(t, accessv1alpha1.GrantActive)
	if !w.member(t, w.group) || w.member(t, w.quarantine) || !w.srv.CanBind(w.user, "user-pw") {
		t.Fatal("restore must undo the move and the lock")
	}

	w.ensure(t, accessv1alpha1.GrantRevoked)
	if w.member(t, w.group) || w.member(t, w.quarantine) {
		t.Fatal("revoked but still a member")
	}
}

// An Active grant keeps its own group, but the lock and the quarantine
// group belong to the account: a quarantined sibling keeps them.
func TestAccountFollowsSiblings(t *testing.T) {
	w := fixture(t, "")
	w.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantActive}
	w.ensure(t, accessv1alpha1.GrantActive)
	if !w.member(t, w.group) || !w.member(t, w.quarantine) || w.srv.CanBind(w.user, "user-pw") {
		t.Fatal("an Active grant with a quarantined sibling must hold its group, and the account must stay locked and quarantined")
	}
	w.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantRevoked}
	w.ensure(t, accessv1alpha1.GrantActive)
	if w.member(t, w.quarantine) || !w.srv.CanBind(w.user, "user-pw") {
		t.Fatal("with no quarantined sibling left, the account must be unlocked")
	}
}

func TestDrift(t *testing.T) {
	w := fixture(t, "")
	w.ensure(t, accessv1alpha1.GrantActive)
	conn, err := w.srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	dir := &directory{conn: conn, attr: "member"}
	if err := dir.membership(w.group, w.user, false); err != nil {
		t.Fatal(err)
	}
	if ch := w.ensure(t, accessv1alpha1.GrantActive); !ch.Changed || !w.member(t, w.group) {
		t.Fatal("membership removed out of band was not restored")
	}
	w.ensure(t, accessv1alpha1.GrantRevoked)
	if err := dir.membership(w.group, w.user, true); err != nil {
		t.Fatal(err)
	}
	if ch := w.ensure(t, accessv1alpha1.GrantRevoked); !ch.Changed || w.member(t, w.group) {
		t.Fatal("membership re-added out of band was not removed")
	}
}

func TestMemberUid(t *testing.T) {
	w := fixture(t, "memberUid")
	conn, err := w.srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	n, err := namesOf(w.target)
	if err != nil || n.member != `sam,o'neil` || n.accountDN == "" {
		t.Fatalf("namesOf = %+v, %v", n, err)
	}
	dir := &directory{conn: conn, attr: "memberUid"}
	if err := dir.checkUID(n); err != nil {
		t.Fatalf("checkUID: %v", err)
	}
	// A DN that names no entry does not lend its uid to a group.
	ghost := w.target
	ghost.Account = "uid=alice,ou=admins," + ldapserver.PeopleBase
	if n, err := namesOf(ghost); err != nil || dir.checkUID(n) == nil {
		t.Errorf("a DN naming no entry was accepted: %+v, %v", n, err)
	}
	member := w.target
	member.System = member.System.DeepCopy()
	member.System.Spec.LDAP.MemberAttribute = "member"
	member.Account = "not a dn"
	if _, err := namesOf(member); err == nil {
		t.Error("a non-DN account was accepted for member")
	}
}

func TestCheckAndFaults(t *testing.T) {
	w := fixture(t, "")
	c := &Connector{}
	if err := c.Check(context.Background(), w.target.System, w.target.Credentials); err != nil {
		t.Fatalf("Check: %v", err)
	}
	bad := map[string][]byte{KeyBindDN: []byte(ldapserver.AdminDN), KeyPassword: []byte("nope")}
	if err := c.Check(context.Background(), w.target.System, bad); !errors.Is(err, connectors.ErrCredentials) {
		t.Errorf("wrong password: %v", err)
	} else if strings.Contains(err.Error(), "nope") {
		t.Error("the error shows the password")
	}
	tlsSystem := w.target.System.DeepCopy()
	tlsSystem.Spec.LDAP.StartTLS = true
	if err := c.Check(context.Background(), tlsSystem, w.target.Credentials); !errors.Is(err, connectors.ErrTLS) {
		t.Errorf("StartTLS against a server without TLS: %v", err)
	}
	w.srv.Stop()
	if _, err := c.Ensure(context.Background(), w.target, accessv1alpha1.GrantActive); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("Ensure on a stopped server: %v, want ErrUnreachable", err)
	}
	if err := w.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	w.ensure(t, accessv1alpha1.GrantActive)
	if !w.member(t, w.group) {
		t.Error("not applied after the server came back")
	}
}
