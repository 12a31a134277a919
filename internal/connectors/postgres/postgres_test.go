package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/test/pgserver"
)

const (
	account     = `sam"o'neil` // quoting must hold for hostile names
	accountPass = "sam-password"
	role        = "payments_rw"
)

// fixture starts a server with a contractor role and an entitlement role.
func fixture(t *testing.T) (*pgserver.Server, connectors.Target) {
	t.Helper()
	srv := pgserver.Start(t)
	admin := connect(t, srv.DSN(pgserver.Superuser, pgserver.Password))
	defer func() { _ = admin.Close(context.Background()) }()
	for _, sql := range []string{
		"CREATE ROLE " + ident(account) + " LOGIN PASSWORD '" + accountPass + "'",
		"CREATE ROLE " + ident(role) + " NOLOGIN",
	} {
		if _, err := admin.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	system := &accessv1alpha1.ConnectedSystem{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypePostgres, Insecure: true, // the test server has no TLS
			Postgres: &accessv1alpha1.PostgresSettings{Host: srv.Host, Port: int32(srv.Port), Database: "postgres", SSLMode: "disable"}},
	}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: role}}}
	return srv, connectors.Target{
		Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{}, Account: account,
		Credentials: map[string][]byte{KeyUsername: []byte(pgserver.Superuser), KeyPassword: []byte(pgserver.Password)},
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	return conn
}

// state reads the account's membership and login from the server.
func state(t *testing.T, srv *pgserver.Server) observed {
	t.Helper()
	admin := connect(t, srv.DSN(pgserver.Superuser, pgserver.Password))
	defer func() { _ = admin.Close(context.Background()) }()
	o, err := observe(context.Background(), admin, account, role)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ensure(t *testing.T, c *Connector, target connectors.Target, s accessv1alpha1.GrantState) connectors.Change {
	t.Helper()
	change, err := c.Ensure(context.Background(), target, s)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", s, err)
	}
	return change
}

func TestLifecycleAgainstARealServer(t *testing.T) {
	srv, target := fixture(t)
	c := &Connector{}

	if ch := ensure(t, c, target, accessv1alpha1.GrantActive); !ch.Changed {
		t.Fatal("granting changed nothing")
	}
	if o := state(t, srv); !o.member || !o.canLogin {
		t.Fatalf("active: %+v", o)
	}
	if ch := ensure(t, c, target, accessv1alpha1.GrantActive); ch.Changed {
		t.Fatalf("applying Active twice changed the server: %s", ch.Detail)
	}

	// The contractor is connected when the quarantine comes.
	session := connect(t, srv.DSN(account, accountPass))
	defer func() { _ = session.Close(context.Background()) }()
	if ch := ensure(t, c, target, accessv1alpha1.GrantQuarantined); !strings.Contains(ch.Detail, "ended live sessions") {
		t.Fatalf("quarantine did not end sessions: %q", ch.Detail)
	}
	if err := session.Ping(context.Background()); err == nil {
		t.Fatal("the contractor's open session survived the quarantine")
	}
	if _, err := pgx.Connect(context.Background(), srv.DSN(account, accountPass)); err == nil {
		t.Fatal("a quarantined contractor could log in")
	}
	if ch := ensure(t, c, target, accessv1alpha1.GrantQuarantined); ch.Changed {
		t.Fatalf("applying Quarantined twice changed the server: %s", ch.Detail)
	}

	ensure(t, c, target, accessv1alpha1.GrantActive)
	again := connect(t, srv.DSN(account, accountPass))
	_ = again.Close(context.Background())

	ensure(t, c, target, accessv1alpha1.GrantRevoked)
	if o := state(t, srv); o.member {
		t.Fatalf("revoked but still a member: %+v", o)
	}
	if ch := ensure(t, c, target, accessv1alpha1.GrantRevoked); ch.Changed {
		t.Fatalf("applying Revoked twice changed the server: %s", ch.Detail)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	srv, target := fixture(t)
	c := &Connector{}
	ensure(t, c, target, accessv1alpha1.GrantActive)
	admin := connect(t, srv.DSN(pgserver.Superuser, pgserver.Password))
	defer func() { _ = admin.Close(context.Background()) }()

	if _, err := admin.Exec(context.Background(), "REVOKE "+ident(role)+" FROM "+ident(account)); err != nil {
		t.Fatal(err)
	}
	if ch := ensure(t, c, target, accessv1alpha1.GrantActive); !ch.Changed || !state(t, srv).member {
		t.Fatal("membership removed out of band was not restored")
	}

	ensure(t, c, target, accessv1alpha1.GrantRevoked)
	if _, err := admin.Exec(context.Background(), "GRANT "+ident(role)+" TO "+ident(account)); err != nil {
		t.Fatal(err)
	}
	if ch := ensure(t, c, target, accessv1alpha1.GrantRevoked); !ch.Changed || state(t, srv).member {
		t.Fatal("membership re-added out of band was not removed")
	}
}

func TestCheckTellsFailuresApart(t *testing.T) {
	srv, target := fixture(t)
	c := &Connector{ConnectTimeout: 3 * time.Second}
	if err := c.Check(context.Background(), target.System, target.Credentials); err != nil {
		t.Fatalf("Check on a healthy server: %v", err)
	}
	wrong := map[string][]byte{KeyUsername: []byte(pgserver.Superuser), KeyPassword: []byte("nope")}
	if err := c.Check(context.Background(), target.System, wrong); !errors.Is(err, connectors.ErrCredentials) {
		t.Errorf("wrong password: %v, want ErrCredentials", err)
	} else if strings.Contains(err.Error(), "nope") {
		t.Error("the error shows the password")
	}
	tlsSystem := target.System.DeepCopy()
	tlsSystem.Spec.Postgres.SSLMode = "require"
	if err := c.Check(context.Background(), tlsSystem, target.Credentials); !errors.Is(err, connectors.ErrTLS) {
		t.Errorf("TLS against a server without TLS: %v, want ErrTLS", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	srv.WaitGone()
	if err := c.Check(context.Background(), target.System, target.Credentials); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("stopped server: %v, want ErrUnreachable", err)
	}
	if _, err := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("Ensure on a stopped server: %v, want ErrUnreachable", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ensure(t, c, target, accessv1alpha1.GrantActive)
	if !state(t, srv).member {
		t.Error("the state was not applied after the server came back")
	}
}
