package ldap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/ldapserver"
)

// add adds an entry as the administrator.
func (w world) add(t *testing.T, dn string, attrs map[string][]string) {
	t.Helper()
	conn, err := w.srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	req := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := conn.Add(req); err != nil {
		t.Fatalf("adding %s: %v", dn, err)
	}
}

func (w world) values(t *testing.T, dn, attr string) []string {
	t.Helper()
	values, err := w.srv.Values(dn, attr)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(values)
	return values
}

// posixGroup adds a posixGroup under ou=groups with memberUid values.
func (w world) posixGroup(t *testing.T, cn string, uids ...string) string {
	dn := "cn=" + goldap.EscapeDN(cn) + "," + ldapserver.GroupsBase
	attrs := map[string][]string{"objectClass": {"posixGroup"}, "cn": {cn}, "gidNumber": {"5000"}}
	if len(uids) > 0 {
		attrs["memberUid"] = uids
	}
	w.add(t, dn, attrs)
	return dn
}

func TestHostileUIDsChangeOnlyTheirOwnValue(t *testing.T) {
	w := fixture(t, "memberUid")
	group := w.posixGroup(t, "devs", "alice", "bob")
	quarantine := w.posixGroup(t, "devs-quarantine", "carol")
	w.target.System.Spec.LDAP.QuarantineGroupDN = quarantine
	w.target.Grant.Spec.Entitlement.Name = group
	for _, uid := range []string{"*)(uid=*", "*", "alice*", "bob)(memberUid=alice", `\2a`, `a\`, "a,cn=admins", "(|(memberUid=*))"} {
		t.Run(uid, func(t *testing.T) {
			target := w.target
			target.Account = uid
			c := &Connector{}
			steps := []struct {
				state              accessv1alpha1.GrantState
				inGroup, inQuarant []string
			}{
				{accessv1alpha1.GrantActive, []string{"alice", "bob", uid}, []string{"carol"}},
				{accessv1alpha1.GrantQuarantined, []string{"alice", "bob"}, []string{"carol", uid}},
				{accessv1alpha1.GrantRevoked, []string{"alice", "bob"}, []string{"carol"}},
			}
			for _, s := range steps {
				ch, err := c.Ensure(context.Background(), target, s.state)
				if err != nil || !ch.Changed {
					t.Fatalf("Ensure(%s) = %+v, %v", s.state, ch, err)
				}
				slices.Sort(s.inGroup)
				slices.Sort(s.inQuarant)
				if got := w.values(t, group, "memberUid"); !slices.Equal(got, s.inGroup) {
					t.Fatalf("%s: the group holds %q, want %q", s.state, got, s.inGroup)
				}
				if got := w.values(t, quarantine, "memberUid"); !slices.Equal(got, s.inQuarant) {
					t.Fatalf("%s: the quarantine group holds %q, want %q", s.state, got, s.inQuarant)
				}
			}
		})
	}
}

func TestHostileDNsTouchOnlyTheirEntry(t *testing.T) {
	w := fixture(t, "")
	// bob in ou=admins is a member, and someone else; the contractor's uid
	// is "bob,ou=admins", a single RDN value below ou=people.
	w.add(t, "ou=admins,"+ldapserver.PeopleBase, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"admins"}})
	admin := "uid=bob,ou=admins," + ldapserver.PeopleBase
	w.add(t, admin, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"bob"}, "cn": {"bob"}, "sn": {"bob"}, "userPassword": {"bob-pw"}})
	w.add(t, "cn=admins,"+ldapserver.GroupsBase, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"admins"}, "member": {admin}})
	conn, err := w.srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := (&directory{conn: conn, attr: "member"}).membership(w.group, admin, true); err != nil {
		t.Fatal(err)
	}
	contractor, err := w.srv.AddUser("bob,ou=admins", "contractor-pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, account := range []string{contractor, `uid=bob\2Cou=admins,` + ldapserver.PeopleBase} {
		w.target.Account = account
		w.user = contractor
		w.ensure(t, accessv1alpha1.GrantActive)
		w.ensure(t, accessv1alpha1.GrantQuarantined)
		if w.member(t, w.group) || !w.member(t, w.quarantine) || w.srv.CanBind(contractor, "contractor-pw") {
			t.Fatalf("%s: the contractor was not quarantined", account)
		}
		if !w.srv.CanBind(admin, "bob-pw") || !containsDN(w.values(t, w.group, "member"), admin) ||
			containsDN(w.values(t, w.quarantine, "member"), admin) {
			t.Fatalf("%s: quarantining the contractor changed %s", account, admin)
		}
		w.ensure(t, accessv1alpha1.GrantRevoked)
		if !containsDN(w.values(t, w.group, "member"), admin) || !w.srv.CanBind(admin, "bob-pw") {
			t.Fatalf("%s: revoking the contractor changed %s", account, admin)
		}
	}
	if got := w.values(t, "cn=admins,"+ldapserver.GroupsBase, "member"); len(got) != 1 || !containsDN(got, admin) {
		t.Fatalf("cn=admins changed: %q", got)
	}
}

func TestHostileGroupDNsAreRefusedBeforeBinding(t *testing.T) {
	w := fixture(t, "")
	wire := connectorstest.NewTripwire(t)
	w.target.System.Spec.LDAP.URL = "ldap://" + wire.Addr()
	for _, group := range []string{
		"payments", "*", "*)(member=*", "cn=payments;cn=admins," + ldapserver.GroupsBase,
		"cn=payments," + ldapserver.GroupsBase + ";", `cn="admins",` + ldapserver.GroupsBase, "cn=\xff," + ldapserver.GroupsBase,
	} {
		w.target.Grant.Spec.Entitlement.Name = group
		_, err := (&Connector{}).Ensure(context.Background(), w.target, accessv1alpha1.GrantActive)
		if err == nil || !strings.Contains(err.Error(), "spec.entitlement.name") {
			t.Errorf("%q: %v", group, err)
		}
	}
	if wire.Connected(t) {
		t.Fatal("the connector connected for a grant it refused")
	}
}

func TestHostileGroupDNsWithFilterSyntaxNameNoOtherGroup(t *testing.T) {
	w := fixture(t, "")
	for _, group := range []string{"cn=*," + ldapserver.GroupsBase, "cn=*)(member=*," + ldapserver.GroupsBase, "cn=payments*," + ldapserver.GroupsBase} {
		w.target.Grant.Spec.Entitlement.Name = group
		if _, err := (&Connector{}).Ensure(context.Background(), w.target, accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "no entry") {
			t.Errorf("%q: %v", group, err)
		}
		if w.member(t, w.group) || w.member(t, w.quarantine) {
			t.Fatalf("%q: the grant changed another group", group)
		}
	}
}

func TestCleartextIsRefusedBeforeConnecting(t *testing.T) {
	w := fixture(t, "")
	wire := connectorstest.NewTripwire(t)
	c := &Connector{}
	for name, tc := range map[string]struct {
		url      string
		insecure bool
		want     error
	}{
		"ldap without startTLS":  {"ldap://" + wire.Addr(), false, connectors.ErrInsecure},
		"user info":              {"ldaps://cn=admin:s3cret@" + wire.Addr(), false, connectors.ErrCredentialsInURL},
		"user info and insecure": {"ldap://s3cret@" + wire.Addr(), true, connectors.ErrCredentialsInURL},
		"another scheme":         {"cldap://" + wire.Addr(), true, nil},
	} {
		t.Run(name, func(t *testing.T) {
			system := w.target.System.DeepCopy()
			system.Spec.LDAP.URL, system.Spec.Insecure = tc.url, tc.insecure
			target := w.target
			target.System = system
			_, ensureErr := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive)
			for _, err := range []error{c.Check(context.Background(), system, w.target.Credentials), ensureErr} {
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ldapserver.AdminPW) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to a system it refused")
			}
		})
	}
	// The same directory with spec.insecure works: the other tests.
	secure := w.target.System.DeepCopy()
	secure.Spec.Insecure = false
	if err := c.Check(context.Background(), secure, w.target.Credentials); !errors.Is(err, connectors.ErrInsecure) {
		t.Fatalf("the test slapd without spec.insecure: %v", err)
	}
}
