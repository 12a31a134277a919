// Package ldapserver runs a throwaway OpenLDAP slapd for tests: an mdb
// database with the ppolicy overlay, from a configuration written to a
// temporary directory, on a free loopback port. It needs Debian's slapd and
// ldap-utils packages.
package ldapserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/portcullis-dev/portcullis/test/freeport"
)

// The directory's base, administrator and seeded entries.
const (
	Base       = "dc=example,dc=com"
	AdminDN    = "cn=admin," + Base
	AdminPW    = "ldap-admin-secret"
	PeopleBase = "ou=people," + Base
	GroupsBase = "ou=groups," + Base
)

// Server is a running slapd.
type Server struct {
	URL  string
	Port int
	dir  string
	cmd  *exec.Cmd
}

// Start writes a configuration, starts slapd and seeds the base entries;
// slapd stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/slapd"); statErr != nil {
			t.Fatal("no slapd: install Debian's slapd and ldap-utils packages (make test-deps)")
		}
		slapd = "/usr/sbin/slapd"
	}
	s := &Server{dir: t.TempDir()}
	if err := s.configure(); err != nil {
		t.Fatal(err)
	}
	if err := s.start(slapd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.seed(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) configure() error {
	port, err := freeport.Port()
	if err != nil {
		return err
	}
	s.Port = port
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	if err := os.MkdirAll(filepath.Join(s.dir, "db"), 0o700); err != nil {
		return err
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile %[1]s/slapd.pid
database mdb
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
maxsize 104857600
overlay ppolicy
ppolicy_default "cn=default,ou=policies,%[2]s"
`, s.dir, Base, AdminDN, AdminPW)
	return os.WriteFile(filepath.Join(s.dir, "slapd.conf"), []byte(conf), 0o600)
}

func (s *Server) start(slapd string) error {
	s.cmd = exec.Command(slapd, "-f", filepath.Join(s.dir, "slapd.conf"), "-h", s.URL+"/", "-d", "0")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log, err := os.Create(filepath.Join(s.dir, "slapd.log"))
	if err != nil {
		return err
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting slapd: %w", err)
	}
	for range 100 {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
	return fmt.Errorf("slapd did not start listening:\n%s", out)
}

// Stop stops slapd.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Restart starts a stopped slapd again on the same port with the same data.
func (s *Server) Restart() error {
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		slapd = "/usr/sbin/slapd"
	}
	return s.start(slapd)
}

// Admin returns a connection bound as the administrator.
func (s *Server) Admin() (*ldap.Conn, error) {
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		return nil, err
	}
	if err := conn.Bind(AdminDN, AdminPW); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func (s *Server) seed() error {
	conn, err := s.Admin()
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	entries := []struct {
		dn    string
		attrs map[string][]string
	}{
		{Base, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}}},
		{PeopleBase, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{GroupsBase, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{"ou=policies," + Base, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"policies"}}},
		{"cn=default,ou=policies," + Base, map[string][]string{
			"objectClass": {"person", "pwdPolicy"}, "cn": {"default"}, "sn": {"default"},
			"pwdAttribute": {"userPassword"}, "pwdLockout": {"TRUE"},
		}},
	}
	for _, e := range entries {
		if err := add(conn, e.dn, e.attrs); err != nil {
			return err
		}
	}
	return nil
}

// AddUser adds an inetOrgPerson with a password and returns its DN.
func (s *Server) AddUser(uid, password string) (string, error) {
	conn, err := s.Admin()
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	dn := "uid=" + ldap.EscapeDN(uid) + "," + PeopleBase
	return dn, add(conn, dn, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid}, "userPassword": {password},
	})
}

// AddGroup adds a groupOfNames (with the administrator as a placeholder
// member, since the schema needs one) and returns its DN.
func (s *Server) AddGroup(cn string) (string, error) {
	conn, err := s.Admin()
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	dn := "cn=" + ldap.EscapeDN(cn) + "," + GroupsBase
	return dn, add(conn, dn, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {cn}, "member": {AdminDN}})
}

func add(conn *ldap.Conn, dn string, attrs map[string][]string) error {
	req := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := conn.Add(req); err != nil {
		return fmt.Errorf("adding %s: %w", dn, err)
	}
	return nil
}

// CanBind reports whether dn can bind with password.
func (s *Server) CanBind(dn, password string) bool {
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close() }()
	return conn.Bind(dn, password) == nil
}

// Values returns an attribute's values on an entry, operational ones too.
func (s *Server) Values(dn, attr string) ([]string, error) {
	conn, err := s.Admin()
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0].GetAttributeValues(attr), nil
}
