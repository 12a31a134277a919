package postgres

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/pgserver"
)

// snapshot is every role's login and memberships: the state a grant could
// change.
func snapshot(t *testing.T, admin *pgx.Conn) map[string]string {
	t.Helper()
	rows, err := admin.Query(context.Background(), `
SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole,
       coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m
                 JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '')
FROM pg_roles r`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var name, groups string
		var login, super, createRole bool
		if err := rows.Scan(&name, &login, &super, &createRole, &groups); err != nil {
			t.Fatal(err)
		}
		out[name] = fmt.Sprintf("login=%t super=%t createrole=%t in=[%s]", login, super, createRole, groups)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestHostileRoleNamesTouchOnlyTheirRoles(t *testing.T) {
	for _, names := range []struct{ account, role string }{
		{`sam"; ALTER ROLE victim NOLOGIN; --`, `ro" TO "victim"; GRANT "admins`},
		{`sam'; DROP ROLE victim; --`, `ro'; GRANT admins TO victim; --`},
		{`s_m%`, `payments%`},
		{`victim" NOLOGIN --`, `admins"--`},
		{`Victim`, `ADMINS`},
		{"sam\\\"\n", `"`},
	} {
		t.Run(names.account, func(t *testing.T) {
			srv, target := fixture(t)
			admin := connect(t, srv.DSN(pgserver.Superuser, pgserver.Password))
			defer func() { _ = admin.Close(context.Background()) }()
			for _, sql := range []string{
				"CREATE ROLE victim LOGIN PASSWORD 'victim-pw'", "CREATE ROLE admins NOLOGIN", "GRANT " + ident(role) + " TO victim",
				"CREATE ROLE sam LOGIN PASSWORD 'sam-pw'",
				"CREATE ROLE " + ident(names.account) + " LOGIN PASSWORD 'hostile-pw'", "CREATE ROLE " + ident(names.role) + " NOLOGIN",
			} {
				run(t, admin, sql)
			}
			before := snapshot(t, admin)
			target.Account, target.Grant.Spec.Entitlement.Name = names.account, names.role

			// The others are connected while the contractor is quarantined.
			victim, sam := connect(t, srv.DSN("victim", "victim-pw")), connect(t, srv.DSN("sam", "sam-pw"))
			defer func() { _ = victim.Close(context.Background()); _ = sam.Close(context.Background()) }()
			c := &Connector{}
			for _, step := range []struct {
				state   accessv1alpha1.GrantState
				account string
			}{
				{accessv1alpha1.GrantActive, fmt.Sprintf("login=true super=false createrole=false in=[%s]", names.role)},
				{accessv1alpha1.GrantQuarantined, fmt.Sprintf("login=false super=false createrole=false in=[%s]", names.role)},
				{accessv1alpha1.GrantRevoked, "login=false super=false createrole=false in=[]"},
			} {
				ensure(t, c, target, step.state)
				want := maps.Clone(before)
				want[names.account] = step.account
				if got := snapshot(t, admin); !maps.Equal(got, want) {
					t.Fatalf("%s changed other roles:\n got %v\nwant %v", step.state, got, want)
				}
			}
			for who, conn := range map[string]*pgx.Conn{"victim": victim, "sam": sam} {
				if err := conn.Ping(context.Background()); err != nil {
					t.Errorf("quarantining %q ended %s's session: %v", names.account, who, err)
				}
			}
		})
	}
}

func TestHostileRoleNamesThatPostgresWouldReadOtherwiseAreRefused(t *testing.T) {
	srv, target := fixture(t)
	admin := connect(t, srv.DSN(pgserver.Superuser, pgserver.Password))
	defer func() { _ = admin.Close(context.Background()) }()
	// A role whose name is 63 bytes long, and an entitlement name that an
	// allow-list pattern "*_ro" admits and PostgreSQL cuts to that name.
	long := "app_owner_" + strings.Repeat("x", 53)
	run(t, admin, "CREATE ROLE "+ident(long)+" NOLOGIN")
	before := snapshot(t, admin)
	for _, tc := range []struct{ account, role string }{
		{account, long + "_ro"},
		{strings.Repeat("s", 64), role},
		{account, role + "\x00"},
		{"sam\x00" + account, role},
		{account + "\xff", role},
	} {
		target.Account, target.Grant.Spec.Entitlement.Name = tc.account, tc.role
		if ch, err := (&Connector{}).Ensure(context.Background(), target, accessv1alpha1.GrantActive); err == nil {
			t.Errorf("%q in %q: %+v", tc.account, tc.role, ch)
		}
	}
	if got := snapshot(t, admin); !maps.Equal(got, before) {
		t.Fatalf("refused names changed roles:\n got %v\nwant %v", got, before)
	}
}

func TestCleartextIsRefusedBeforeConnecting(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	settings := &accessv1alpha1.PostgresSettings{Host: wire.Host, Port: int32(wire.Port), Database: "postgres"}
	where := fmt.Sprintf("host=%s port=%d dbname=postgres user=portcullis password=s3cret-pw", wire.Host, wire.Port)
	c := &Connector{ConnectTimeout: time.Second}
	for name, tc := range map[string]struct {
		sslMode accessv1alpha1.PostgresSSLMode
		dsn     string
	}{
		"sslMode disable":          {sslMode: "disable"},
		"sslMode prefer (old)":     {sslMode: "prefer"},
		"a dsn with disable":       {dsn: where + " sslmode=disable"},
		"a dsn with allow":         {dsn: where + " sslmode=allow"},
		"a dsn with prefer":        {dsn: where + " sslmode=prefer"},
		"a dsn without sslmode":    {dsn: where},
		"a URL dsn without TLS":    {dsn: fmt.Sprintf("postgres://portcullis:s3cret-pw@%s/postgres?sslmode=disable", wire.Addr())},
		"a dsn with a second host": {dsn: fmt.Sprintf("host=%s,%s port=%d,%d password=s3cret-pw sslmode=prefer", wire.Host, wire.Host, wire.Port, wire.Port)},
	} {
		t.Run(name, func(t *testing.T) {
			s := *settings
			s.SSLMode = tc.sslMode
			target := connectors.Target{
				System:  &accessv1alpha1.ConnectedSystem{Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypePostgres, Postgres: &s}},
				Grant:   &accessv1alpha1.AccessGrant{Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: role}}},
				Account: account, Credentials: map[string][]byte{KeyDSN: []byte(tc.dsn), KeyPassword: []byte("s3cret-pw")},
			}
			if tc.dsn == "" {
				delete(target.Credentials, KeyDSN)
				target.Credentials[KeyUsername] = []byte("portcullis")
			}
			_, ensureErr := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive)
			for _, err := range []error{c.Check(context.Background(), target.System, target.Credentials), ensureErr} {
				if !errors.Is(err, connectors.ErrInsecure) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("got %v, want ErrInsecure without the password", err)
				}
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to a server it refused")
			}
		})
	}
}

func TestInsecureDSNWorksAndHidesThePassword(t *testing.T) {
	srv, target := fixture(t)
	c := &Connector{}
	dsn := srv.DSN(pgserver.Superuser, pgserver.Password) // sslmode=disable
	creds := map[string][]byte{KeyDSN: []byte(dsn)}
	if err := c.Check(context.Background(), target.System, creds); err != nil {
		t.Fatalf("a dsn with sslmode=disable and spec.insecure: %v", err)
	}
	secure := target.System.DeepCopy()
	secure.Spec.Insecure = false
	if err := c.Check(context.Background(), secure, creds); !errors.Is(err, connectors.ErrInsecure) {
		t.Fatalf("the same dsn without spec.insecure: %v", err)
	}
	wrong := map[string][]byte{KeyDSN: []byte(srv.DSN(pgserver.Superuser, "s3cret-wrong-pw"))}
	if err := c.Check(context.Background(), target.System, wrong); !errors.Is(err, connectors.ErrCredentials) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a wrong password in the dsn: %v", err)
	}
	broken := map[string][]byte{KeyDSN: []byte("host=h password=s3cret-pw port=notaport")}
	if err := c.Check(context.Background(), target.System, broken); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a dsn that does not parse: %v", err)
	}
}

func TestConfigQuotesTheSettings(t *testing.T) {
	for _, hostile := range []string{`h' sslmode='disable`, `h\' sslmode=disable host=evil`, `h\`, "h dbname=x"} {
		system := &accessv1alpha1.ConnectedSystem{Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypePostgres,
			Postgres: &accessv1alpha1.PostgresSettings{Host: hostile, Database: hostile, SSLMode: "verify-full"}}}
		cfg, err := config(system, map[string][]byte{KeyUsername: []byte("u"), KeyPassword: []byte("p")})
		if err != nil {
			t.Fatalf("%q: %v", hostile, err)
		}
		if cfg.Host != hostile || cfg.Database != hostile || cfg.TLSConfig == nil || len(cfg.Fallbacks) != 0 {
			t.Errorf("%q: host %q, database %q, TLS %t, %d fallbacks", hostile, cfg.Host, cfg.Database, cfg.TLSConfig != nil, len(cfg.Fallbacks))
		}
	}
}

// fakeTLSServer answers PostgreSQL's SSLRequest with "S" and a TLS
// handshake with cert, and reports on got whether the client sent
// anything (its startup message, then its password) after the handshake.
func fakeTLSServer(t *testing.T, cert tls.Certificate) (*net.TCPAddr, <-chan bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan bool, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		var req [8]byte
		if _, err := io.ReadFull(conn, req[:]); err != nil || binary.BigEndian.Uint32(req[4:]) != 80877103 {
			got <- false
			return
		}
		_, _ = conn.Write([]byte("S"))
		server := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
		if server.Handshake() != nil {
			got <- false
			return
		}
		n, _ := server.Read(make([]byte, 64))
		got <- n > 0
	}()
	return ln.Addr().(*net.TCPAddr), got
}

func TestInsecureCertificateIsRefusedWithACABundle(t *testing.T) {
	trusted, other := connectorstest.NewCA(t), connectorstest.NewCA(t)
	for _, mode := range []accessv1alpha1.PostgresSSLMode{"verify-ca", "verify-full"} {
		for ca, wantSent := range map[*connectorstest.CA]bool{trusted: true, other: false} {
			addr, got := fakeTLSServer(t, trusted.Issue(t))
			system := &accessv1alpha1.ConnectedSystem{Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypePostgres,
				Postgres: &accessv1alpha1.PostgresSettings{Host: "127.0.0.1", Port: int32(addr.Port), SSLMode: mode, CABundle: string(ca.PEM)}}}
			err := (&Connector{ConnectTimeout: 3 * time.Second}).Check(context.Background(), system,
				map[string][]byte{KeyUsername: []byte("u"), KeyPassword: []byte("s3cret-pw")})
			if sent := <-got; sent != wantSent {
				t.Errorf("%s, trusted CA %t: the client sent its startup message: %t (%v)", mode, ca == trusted, sent, err)
			}
			if !wantSent && !errors.Is(err, connectors.ErrTLS) {
				t.Errorf("%s with an untrusted certificate: %v, want ErrTLS", mode, err)
			}
		}
	}
}
