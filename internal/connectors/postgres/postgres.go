// Package postgres enforces grants as role memberships in a PostgreSQL
// server: GRANT and REVOKE of the entitlement's role, NOLOGIN for a
// quarantine, and termination of the account's live sessions.
package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// Keys of the credentials Secret.
const (
	KeyUsername = "username"
	KeyPassword = "password"
	KeyDSN      = "dsn"
)

// Connector connects to the system for each operation.
type Connector struct {
	// ConnectTimeout bounds connecting; zero means 10 seconds.
	ConnectTimeout time.Duration
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials lists what the Secret lacks: a KeyDSN, or else
// KeyUsername and KeyPassword.
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	if len(data[KeyDSN]) > 0 {
		return nil
	}
	return connectors.Missing(data, KeyUsername, KeyPassword)
}

// ObservesState is true: Ensure reads membership and login before changing them.
func (c *Connector) ObservesState() bool { return true }

// observed is an account's state in the server.
type observed struct {
	exists, member, canLogin bool
}

// Ensure makes the account's membership match state (a role that another
// grant of the contractor keeps is not revoked), and its login match the
// account's state over all the contractor's grants on the server. The role
// names are checked before the connector connects.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	role, account := t.Grant.Spec.Entitlement.Name, t.Account
	if account == "" {
		// A deleted grant of a contractor without an account: nothing to remove.
		return connectors.Change{}, nil
	}
	if err := errors.Join(checkRoleName("the account", account), checkRoleName("spec.entitlement.name", role)); err != nil {
		return connectors.Change{}, err
	}
	conn, err := c.connect(ctx, t.System, t.Credentials)
	if err != nil {
		return connectors.Change{}, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	cur, err := observe(ctx, conn, account, role)
	if err != nil {
		return connectors.Change{}, err
	}
	if !cur.exists {
		if connectors.Removes(state) {
			return connectors.Change{}, nil
		}
		return connectors.Change{}, fmt.Errorf("role %q does not exist on the server: create the contractor's account first", account)
	}
	var steps connectors.Steps
	for _, step := range plan(cur, t, state, terminates(t.System)) {
		if step.run == nil {
			steps.Note(step.what)
			continue
		}
		if err := steps.Do(step.what, func() error { return step.run(ctx, conn, account, role) }); err != nil {
			return steps.Change(), err
		}
	}
	return steps.Change(), nil
}

// step is one statement of a plan, or, without run, a note of something
// left as it is on purpose.
type step struct {
	what string
	run  func(ctx context.Context, conn *pgx.Conn, account, role string) error
}

// plan lists the statements that take cur to state, and none when it is
// there already. Membership follows the grant's own state, except that a
// role that another grant of the contractor for the same role keeps
// (Target.MembershipKeptBySibling) is not revoked; the live sessions then
// end only on the change to the state (Target.EndsSessions), as in an
// identity provider. Login belongs to the account and follows the most
// restrictive state over the contractor's grants on the server
// (Target.AccountState).
func plan(cur observed, t connectors.Target, state accessv1alpha1.GrantState, terminate bool) []step {
	var steps []step
	end := false
	account := t.AccountState(state)
	holds := state == accessv1alpha1.GrantActive || state == accessv1alpha1.GrantQuarantined
	switch {
	case holds && !cur.member:
		steps = append(steps, grantStep)
	case connectors.Removes(state) && cur.member && t.MembershipKeptBySibling(false):
		steps = append(steps, step{what: connectors.KeptBySibling("the role " + t.Grant.Spec.Entitlement.Name)})
		end = t.EndsSessions(state)
	case connectors.Removes(state) && cur.member:
		steps = append(steps, revokeStep)
		end = true
	}
	switch {
	case account == accessv1alpha1.GrantActive && !cur.canLogin:
		steps = append(steps, loginStep)
	case account == accessv1alpha1.GrantQuarantined && cur.canLogin:
		steps = append(steps, noLoginStep)
		end = true
	}
	if end && terminate {
		steps = append(steps, terminateStep)
	}
	return steps
}

var (
	grantStep = step{"granted the role", func(ctx context.Context, conn *pgx.Conn, account, role string) error {
		return exec(ctx, conn, fmt.Sprintf("GRANT %s TO %s", ident(role), ident(account)))
	}}
	revokeStep = step{"revoked the role", func(ctx context.Context, conn *pgx.Conn, account, role string) error {
		return exec(ctx, conn, fmt.Sprintf("REVOKE %s FROM %s", ident(role), ident(account)))
	}}
	loginStep = step{"allowed login", func(ctx context.Context, conn *pgx.Conn, account, _ string) error {
		return exec(ctx, conn, fmt.Sprintf("ALTER ROLE %s LOGIN", ident(account)))
	}}
	noLoginStep = step{"refused login (NOLOGIN)", func(ctx context.Context, conn *pgx.Conn, account, _ string) error {
		return exec(ctx, conn, fmt.Sprintf("ALTER ROLE %s NOLOGIN", ident(account)))
	}}
	terminateStep = step{"ended live sessions", func(ctx context.Context, conn *pgx.Conn, account, _ string) error {
		_, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", account)
		if err != nil {
			return fmt.Errorf("ending the sessions of %q: %w", account, err)
		}
		return nil
	}}
)

// ident quotes an identifier: no statement is built from an unquoted name.
// Names pass checkRoleName first: Sanitize drops NUL bytes, which would
// make "adm\x00in" the role admin.
func ident(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// maxIdentifierBytes is NAMEDATALEN-1 in a default build of PostgreSQL.
const maxIdentifierBytes = 63

// checkRoleName refuses a role name that the server would read as another
// one: PostgreSQL cuts identifiers and name values to 63 bytes, so a longer
// name would GRANT, REVOKE or ALTER the role named by its first 63 bytes;
// NUL and invalid UTF-8 cannot be sent at all.
func checkRoleName(field, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", field)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%s %q holds a NUL byte, which no PostgreSQL role name can", field, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s %q is not valid UTF-8", field, name)
	case len(name) > maxIdentifierBytes:
		return fmt.Errorf("%s %q is %d bytes long: PostgreSQL would cut it to %d bytes, which may name another role",
			field, name, len(name), maxIdentifierBytes)
	}
	return nil
}

func exec(ctx context.Context, conn *pgx.Conn, sql string) error {
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

func observe(ctx context.Context, conn *pgx.Conn, account, role string) (observed, error) {
	var o observed
	err := conn.QueryRow(ctx, `
SELECT true, r.rolcanlogin,
       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
               WHERE m.member = r.oid AND g.rolname = $2)
FROM pg_roles r WHERE r.rolname = $1`, account, role).Scan(&o.exists, &o.canLogin, &o.member)
	if errors.Is(err, pgx.ErrNoRows) {
		return observed{}, nil
	}
	if err != nil {
		return o, fmt.Errorf("reading role %q: %w", account, err)
	}
	return o, nil
}

func terminates(s *accessv1alpha1.ConnectedSystem) bool {
	p := s.Spec.Postgres
	return p == nil || p.TerminateSessions == nil || *p.TerminateSessions
}

// Check connects and runs a query.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	conn, err := c.connect(ctx, system, credentials)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("querying the server: %w", err)
	}
	return nil
}

// connect opens a connection from the settings and credentials, once they
// are known to use TLS or spec.insecure allows them not to. Errors never
// carry the password or the connection string.
func (c *Connector) connect(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*pgx.Conn, error) {
	cfg, err := config(system, credentials)
	if err != nil {
		return nil, err
	}
	if err := checkTLS(system, cfg, len(credentials[KeyDSN]) > 0); err != nil {
		return nil, err
	}
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cfg.ConnectTimeout = timeout
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, connectors.RedactSecrets(classify(cfg.Host, cfg.Port, err),
			cfg.Password, string(credentials[KeyPassword]), string(credentials[KeyDSN]))
	}
	return conn, nil
}

// checkTLS refuses, unless spec.insecure is set, a configuration that
// could send the password without TLS: sslmode disable, or allow and
// prefer, which fall back to a connection without TLS (prefer is what a
// dsn without sslmode gets, from pgx as from libpq). A Unix socket does
// not cross the network and is let through.
func checkTLS(system *accessv1alpha1.ConnectedSystem, cfg *pgx.ConnConfig, fromDSN bool) error {
	if system.Spec.Insecure || !cleartext(cfg) {
		return nil
	}
	if fromDSN {
		return fmt.Errorf("%w: the credentials Secret's dsn lets the connection go without TLS (sslmode disable, allow or prefer, "+
			"and prefer is the default): put sslmode=require, verify-ca or verify-full in it, or set spec.insecure: true to accept that",
			connectors.ErrInsecure)
	}
	return fmt.Errorf("%w: spec.postgres.sslMode is %s, so the password would cross the network in clear text: "+
		"use require, verify-ca or verify-full, or set spec.insecure: true to accept that", connectors.ErrInsecure, system.Spec.Postgres.SSLMode)
}

// cleartext reports whether cfg, or one of the fallbacks pgx tries after
// it, connects over TCP without TLS.
func cleartext(cfg *pgx.ConnConfig) bool {
	if cfg.TLSConfig == nil && !isSocket(cfg.Host) {
		return true
	}
	for _, fb := range cfg.Fallbacks {
		if fb.TLSConfig == nil && !isSocket(fb.Host) {
			return true
		}
	}
	return false
}

// isSocket reports whether host is a Unix socket directory, as libpq reads it.
func isSocket(host string) bool {
	return strings.HasPrefix(host, "/")
}

func config(system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*pgx.ConnConfig, error) {
	s := system.Spec.Postgres
	if s == nil {
		return nil, errors.New("the system has no postgres settings")
	}
	dsn := string(credentials[KeyDSN])
	if dsn == "" {
		port := s.Port
		if port == 0 {
			port = 5432
		}
		database := s.Database
		if database == "" {
			database = "postgres"
		}
		sslMode := string(s.SSLMode)
		if sslMode == "" {
			sslMode = "verify-full"
		}
		dsn = fmt.Sprintf("host=%s port=%d dbname=%s sslmode=%s", quote(s.Host), port, quote(database), quote(sslMode))
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may echo the string; say only which key is wrong.
		return nil, errors.New("the credentials Secret's dsn, or the postgres settings, do not parse as a connection string")
	}
	if u := string(credentials[KeyUsername]); u != "" {
		cfg.User = u
	}
	if p := string(credentials[KeyPassword]); p != "" {
		cfg.Password = p
	}
	if s.CABundle != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.CABundle)) {
			return nil, errors.New("spec.postgres.caBundle holds no PEM certificate")
		}
		trust(cfg.TLSConfig, pool)
		for _, fb := range cfg.Fallbacks {
			trust(fb.TLSConfig, pool)
		}
	}
	return cfg, nil
}

// trust makes c, which pgx.ParseConfig just made, trust pool. It changes
// c in place: for verify-ca, pgx checks the chain in a
// VerifyPeerCertificate callback that reads c.RootCAs, with
// InsecureSkipVerify set, so a copy without the callback would check
// nothing at all.
func trust(c *tls.Config, pool *x509.CertPool) {
	if c == nil {
		return
	}
	c.RootCAs = pool
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
}

// quote makes a libpq keyword value safe.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// classify tells wrong credentials, an unreachable server and a TLS failure apart.
func classify(host string, port uint16, err error) error {
	where := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		return fmt.Errorf("%w at %s: %s", connectors.ErrCredentials, where, pgErr.Message)
	}
	msg := err.Error()
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) || strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") ||
		strings.Contains(msg, "server refused TLS") {
		return fmt.Errorf("%w with %s: %w", connectors.ErrTLS, where, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || strings.Contains(msg, "connect: connection refused") || strings.Contains(msg, "dial") {
		return fmt.Errorf("%w: %s: %w", connectors.ErrUnreachable, where, err)
	}
	return fmt.Errorf("connecting to %s: %w", where, err)
}
