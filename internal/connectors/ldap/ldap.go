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

var _ connectors.Connector = (*Connector)(nil)

// ObservesState is true: Ensure reads memberships and the lock first.
func (c *Connector) ObservesState() bool { return true }

// Ensure makes the account's memberships and lock match state.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	if t.Account == "" {
		return connectors.Change{}, nil
	}
	settings := t.System.Spec.LDAP
	conn, err := c.bind(ctx, t.System, t.Credentials)
	if err != nil {
		return connectors.Change{}, err
	}
	defer func() { _ = conn.Close() }()
	d := &directory{conn: conn, attr: memberAttribute(settings)}
	member, err := d.memberValue(t.Account)
	if err != nil {
		return connectors.Change{}, err
	}
	return d.reconcile(t.Account, member, t.Grant.Spec.Entitlement.Name, settings, state)
}

// directory is a bound connection and the member attribute in use.
type directory struct {
	conn *goldap.Conn
	attr string
	done []string
}

func (d *directory) reconcile(account, member, group string, s *accessv1alpha1.LDAPSettings, state accessv1alpha1.GrantState) (connectors.Change, error) {
	quarantine := s.QuarantineGroupDN
	lock := s.LockAccounts == nil || *s.LockAccounts
	var err error
	switch {
	case state == accessv1alpha1.GrantActive:
		err = d.all(
			func() error { return d.membership(group, member, true) },
			func() error { return d.membership(quarantine, member, false) },
			func() error { return d.lock(account, lock, false) },
		)
	case state == accessv1alpha1.GrantQuarantined:
		err = d.all(
			func() error { return d.membership(group, member, false) },
			func() error { return d.membership(quarantine, member, true) },
			func() error { return d.lock(account, lock, true) },
		)
	case connectors.Removes(state):
		err = d.all(
			func() error { return d.membership(group, member, false) },
			func() error { return d.membership(quarantine, member, false) },
		)
	}
	return connectors.Change{Changed: len(d.done) > 0, Detail: strings.Join(d.done, "; ")}, err
}

func (d *directory) all(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// membership adds or removes member in group, when it is not so already.
func (d *directory) membership(group, member string, want bool) error {
	if group == "" {
		return nil
	}
	has, err := d.hasValue(group, d.attr, member)
	if err != nil || has == want {
		return err
	}
	req := goldap.NewModifyRequest(group, nil)
	verb := "added to"
	if want {
		req.Add(d.attr, []string{member})
	} else {
		req.Delete(d.attr, []string{member})
		verb = "removed from"
	}
	if err := d.conn.Modify(req); err != nil {
		return fmt.Errorf("changing %s of %s: %w", d.attr, group, err)
	}
	d.done = append(d.done, verb+" "+group)
	return nil
}

// lock sets or clears ppolicy's pwdAccountLockedTime. A directory without
// ppolicy has no such attribute: the lock is then skipped.
func (d *directory) lock(account string, enabled, want bool) error {
	if !enabled || !isDN(account) {
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
	d.done = append(d.done, what)
	return nil
}

// hasValue reports whether an entry's attribute holds value, comparing DNs
// as DNs.
func (d *directory) hasValue(dn, attr, value string) (bool, error) {
	values, err := d.values(dn, attr)
	if err != nil {
		return false, err
	}
	for _, v := range values {
		if sameValue(v, value) {
			return true, nil
		}
	}
	return false, nil
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

// memberValue is what goes in the member attribute: the account's DN, or
// for memberUid its uid.
func (d *directory) memberValue(account string) (string, error) {
	if d.attr != "memberUid" {
		if !isDN(account) {
			return "", fmt.Errorf("account %q is not a DN, which %s needs", account, d.attr)
		}
		return account, nil
	}
	if !isDN(account) {
		return account, nil
	}
	dn, _ := goldap.ParseDN(account)
	for _, a := range dn.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, "uid") {
			return a.Value, nil
		}
	}
	return "", fmt.Errorf("account %q has no uid in its first RDN, which memberUid needs", account)
}

func memberAttribute(s *accessv1alpha1.LDAPSettings) string {
	if s.MemberAttribute == "" {
		return "member"
	}
	return string(s.MemberAttribute)
}

func isDN(s string) bool {
	dn, err := goldap.ParseDN(s)
	return err == nil && len(dn.RDNs) > 0
}

// sameValue compares two values as DNs when both are DNs, else exactly.
func sameValue(a, b string) bool {
	da, errA := goldap.ParseDN(a)
	db, errB := goldap.ParseDN(b)
	if errA == nil && errB == nil && len(da.RDNs) > 0 && len(db.RDNs) > 0 {
		return da.EqualFold(db)
	}
	return a == b
}

func isUndefinedAttribute(err error) bool {
	return goldap.IsErrorWithCode(err, goldap.LDAPResultUndefinedAttributeType) ||
		goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation)
}

// Check binds with the credentials.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	conn, err := c.bind(ctx, system, credentials)
	if err != nil {
		return err
	}
	return conn.Close()
}

// bind connects (LDAPS or StartTLS as configured) and binds. Errors never
// carry the password.
func (c *Connector) bind(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*goldap.Conn, error) {
	s := system.Spec.LDAP
	if s == nil {
		return nil, errors.New("the system has no ldap settings")
	}
	bindDN, password := string(credentials[KeyBindDN]), string(credentials[KeyPassword])
	if bindDN == "" || password == "" {
		return nil, fmt.Errorf("the credentials Secret needs %q and %q", KeyBindDN, KeyPassword)
	}
	tlsConfig, err := tlsConfigFor(s)
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
			return nil, fmt.Errorf("%w with %s: StartTLS: %w", connectors.ErrTLS, s.URL, err)
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetTimeout(time.Until(deadline))
	}
	if err := conn.Bind(bindDN, password); err != nil {
		_ = conn.Close()
		return nil, classify(s.URL, err)
	}
	return conn, nil
}

func tlsConfigFor(s *accessv1alpha1.LDAPSettings) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
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
