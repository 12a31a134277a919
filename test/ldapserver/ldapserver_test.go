package ldapserver

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestServerLocksAccountsWithPpolicy(t *testing.T) {
	s := Start(t)
	dn, err := s.AddUser("sam", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !s.CanBind(dn, "pw") {
		t.Fatal("a new user cannot bind")
	}
	conn, err := s.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := conn.Modify(req); err != nil {
		t.Fatal(err)
	}
	if s.CanBind(dn, "pw") {
		t.Fatal("a locked user can bind: the ppolicy overlay is not in force")
	}
}
