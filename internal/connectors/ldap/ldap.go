// Package ldap enforces grants as group memberships and account locks in an
// LDAP directory.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// Keys of the credentials Secret.
const (
	KeyBindDN   = "bindDN"
	KeyPassword = "password"
)

// lockedForever is ppolicy's pwdAccountLockedTime for a lock that only an
// administrator lifts.
const lockedForever = "000001010000Z"

// Connector binds for each operation.
type Connector struct {
	// Timeout bounds connecting and each request; zero means 10 seconds.
	Timeout time.Duration
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials lists what the Secret lacks of KeyBindDN and KeyPassword.
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	return connectors.Missing(data, KeyBindDN, KeyPassword)
}

// ObservesState is true: Ensure reads memberships and the lock first.
func (c *Connector) ObservesState() bool { return true }

// Ensure makes the account's memberships and lock match state (the lock and
// the quarantine group follow Target.AccountState; a group that another
// grant of the contractor keeps, Target.MembershipKeptBySibling, is not
// left). Every DN is checked before the connector binds.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	if t.Account == "" {
		return connectors.Change{}, nil
	}
	if err := checkSettings(t.System); err != nil {
		return connectors.Change{}, err
	}
	n, err := namesOf(t)
	if err != nil {
		return connectors.Change{}, err
	}
	conn, err := c.bind(ctx, t.System, t.Credentials)
	if err != nil {
		return connectors.Change{}, err
	}
	defer func() { _ = conn.Close() }()
	d := &directory{conn: conn, attr: n.attr}
	if err := d.checkUID(n); err != nil {
		return connectors.Change{}, err
	}
	// Only an active grant keeps the group: a quarantine takes the member
	// out, as in an identity provider's Group mode.
	if t.MembershipKeptBySibling(true) {
		d.kept = n.group
	}
	return d.reconcile(n, t.System.Spec.LDAP, state, t.AccountState(state))
}

// directory is a bound connection, the member attribute in use and what
// one Ensure did so far.
type directory struct {
	conn *goldap.Conn
	attr string
	// kept is the group that another grant of the contractor keeps the
	// member in (Target.MembershipKeptBySibling), or "".
	kept string
	connectors.Steps
}

// reconcile makes the entitlement's group follow the grant's own state,
// unless another grant of the contractor keeps the member in it, and the
// quarantine group and the lock follow account, the most restrictive state
// over the contractor's grants in the directory.
func (d *directory) reconcile(n names, s *accessv1alpha1.LDAPSettings, state, account accessv1alpha1.GrantState) (connectors.Change, error) {
	lock := s.LockAccounts == nil || *s.LockAccounts
	steps := []func() error{
		func() error { return d.membership(n.group, n.member, state == accessv1alpha1.GrantActive) },
		func() error { return d.membership(n.quarantine, n.member, account == accessv1alpha1.GrantQuarantined) },
	}
	switch account {
	case accessv1alpha1.GrantActive:
		steps = append(steps, func() error { return d.lock(n.accountDN, lock, false) })
	case accessv1alpha1.GrantQuarantined:
		steps = append(steps, func() error { return d.lock(n.accountDN, lock, true) })
	}
	err := d.all(steps...)
	return d.Change(), err
}

func (d *directory) all(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// membership adds or removes member in group, when it is not so already,
// and leaves it in the group that another grant keeps it in (d.kept).
func (d *directory) membership(group, member string, want bool) error {
	if group == "" {
		return nil
	}
	has, err := d.hasValue(group, d.attr, member)
	if err != nil || has == want {
		return err
	}
	if !want && group == d.kept {
		d.Note(connectors.KeptBySibling("in " + group))
		return nil
	}
	req := goldap.NewModifyRequest(group, nil)
	verb := "added to"
	if want {
		req.Add(d.attr, []string{member})
	} else {
		req.Delete(d.attr, []string{member})
		verb = "removed from"
	}
	return d.Do(verb+" "+group, func() error {
		if err := d.conn.Modify(req); err != nil {
			return fmt.Errorf("changing %s of %s: %w", d.attr, group, err)
		}
		return nil
	})
}

// lock sets or clears ppolicy's pwdAccountLockedTime on the account's
// entry; an account given as a uid has none. A directory without ppolicy
// has no such attribute: the lock is then skipped.
func (d *directory) lock(account string, enabled, want bool) error {
	if !enabled || account == "" {
		return nil
	}
	values, err := d.values(account, "pwdAccountLockedTime")
	if isUndefinedAttribute(err) {
		return nil
	}
	if err != nil || (len(values) > 0) == want {
		return err
	}
	req := goldap.NewModifyRequest(account, nil)
	what := "unlocked the account"
	if want {
		req.Replace("pwdAccountLockedTime", []string{lockedForever})
		what = "locked the account"
	} else {
		req.Delete("pwdAccountLockedTime", nil)
	}
	if err := d.conn.Modify(req); err != nil {
		if isUndefinedAttribute(err) {
			return nil
		}
		return fmt.Errorf("changing the lock of %s: %w", account, err)
	}
	d.Done(what)
	return nil
}

// hasValue reports whether an entry's attribute holds value, by the
// directory's own matching rule for the attribute (distinguishedNameMatch
// for member): a base search with an equality filter.
func (d *directory) hasValue(dn, attr, value string) (bool, error) {
	res, err := d.conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		equalityFilter(attr, value), []string{"1.1"}, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return false, fmt.Errorf("no entry %s in the directory: create it, or fix the grant or the contractor's account", dn)
	}
	if err != nil {
		return false, fmt.Errorf("reading %s of %s: %w", attr, dn, err)
	}
	return len(res.Entries) > 0, nil
}

func (d *directory) values(dn, attr string) ([]string, error) {
	res, err := d.conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("no entry %s in the directory: create it, or fix the grant or the contractor's account", dn)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s of %s: %w", attr, dn, err)
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0].GetAttributeValues(attr), nil
}

// checkUID makes sure, for memberUid and an account given as a DN, that the
// account's entry exists and holds the uid taken from its RDN, so that a DN
// naming no entry cannot put a real uid in a group.
func (d *directory) checkUID(n names) error {
	if d.attr != attrMemberUID || n.accountDN == "" {
		return nil
	}
	has, err := d.hasValue(n.accountDN, "uid", n.member)
	if err == nil && !has {
		err = fmt.Errorf("the entry %s has no uid %q, which its DN names", n.accountDN, n.member)
	}
	return err
}

func isUndefinedAttribute(err error) bool {
	return goldap.IsErrorWithCode(err, goldap.LDAPResultUndefinedAttributeType) ||
		goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation)
}

// Check binds with the credentials.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	if err := checkSettings(system); err != nil {
		return err
	}
	conn, err := c.bind(ctx, system, credentials)
	if err != nil {
		return err
	}
	return conn.Close()
}

// bind connects (LDAPS or StartTLS as configured) and binds, once
// checkSettings passed. Errors never carry the password.
func (c *Connector) bind(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*goldap.Conn, error) {
	bindDN, password := string(credentials[KeyBindDN]), string(credentials[KeyPassword])
	if bindDN == "" || password == "" {
		return nil, fmt.Errorf("the credentials Secret needs %q and %q", KeyBindDN, KeyPassword)
	}
	conn, err := c.dial(ctx, system.Spec.LDAP)
	if err != nil {
		return nil, connectors.RedactSecrets(err, password)
	}
	if err := conn.Bind(bindDN, password); err != nil {
		_ = conn.Close()
		return nil, connectors.RedactSecrets(classify(system.Spec.LDAP.URL, err), password)
	}
	return conn, nil
}

// dial connects, and upgrades the connection with StartTLS when asked,
// before anything else is sent.
func (c *Connector) dial(ctx context.Context, s *accessv1alpha1.LDAPSettings) (*goldap.Conn, error) {
	u, err := connectors.ParseSystemURL("spec.ldap.url", s.URL)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := tlsConfigFor(s, u.Hostname())
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: timeout}
	conn, err := goldap.DialURL(s.URL, goldap.DialWithDialer(dialer), goldap.DialWithTLSConfig(tlsConfig))
	if err != nil {
		return nil, classify(s.URL, err)
	}
	conn.SetTimeout(timeout)
	if s.StartTLS {
		if err := conn.StartTLS(tlsConfig); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("%w with %s: StartTLS: %w", connectors.ErrTLS, connectors.RedactURL(s.URL), err)
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetTimeout(time.Until(deadline))
	}
	return conn, nil
}

// tlsConfigFor verifies the server's certificate for host: crypto/tls
// takes the name from the address for ldaps://, but not for StartTLS,
// which go-ldap starts with tls.Client.
func tlsConfigFor(s *accessv1alpha1.LDAPSettings, host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if s.CABundle != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.CABundle)) {
			return nil, errors.New("spec.ldap.caBundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func classify(url string, err error) error {
	url = connectors.RedactURL(url)
	if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		return fmt.Errorf("%w at %s", connectors.ErrCredentials, url)
	}
	msg := err.Error()
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) || strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") ||
		goldap.IsErrorWithCode(err, goldap.LDAPResultConfidentialityRequired) || strings.Contains(msg, "StartTLS") {
		return fmt.Errorf("%w with %s: %w", connectors.ErrTLS, url, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || goldap.IsErrorWithCode(err, goldap.ErrorNetwork) {
		return fmt.Errorf("%w: %s: %w", connectors.ErrUnreachable, url, err)
	}
	return fmt.Errorf("binding to %s: %w", url, err)
}
