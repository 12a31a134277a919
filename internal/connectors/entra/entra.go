// Package entra enforces grants in a Microsoft Entra ID tenant through
// Microsoft Graph v1.0: a grant's entitlement is the membership of a group
// named by its displayName, a quarantine disables the account (Suspend
// mode) or moves it to a quarantine group (Group mode), and a grant that is
// quarantined, revoked, expired or deleted revokes the user's sign-in
// sessions: once per change of state (Target.Changes), and again on the
// retry of a change that failed halfway.
//
// The connector authenticates as an app registration with the OAuth 2.0
// client credentials grant, with a certificate (a client assertion signed
// with RS256, preferred) or a client secret, and caches the access token
// per system until shortly before it expires.
package entra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// The keys of the credentials Secret.
const (
	// KeyClientID is the app registration's application (client) id.
	KeyClientID = "clientID"
	// KeyCertificate is the PEM certificate registered on the app.
	KeyCertificate = "certificate"
	// KeyPrivateKey is the certificate's RSA private key, PEM (PKCS #1 or
	// PKCS #8, unencrypted).
	KeyPrivateKey = "privateKey"
	// KeyClientSecret is a client secret's value, used when the Secret
	// holds no certificate.
	KeyClientSecret = "clientSecret"
)

// The endpoints of the global Azure cloud, used when the settings name none.
const (
	DefaultAuthorityHost = "https://login.microsoftonline.com"
	DefaultGraphEndpoint = "https://graph.microsoft.com"
)

// Connector talks to Microsoft Graph over HTTPS only. The zero value is
// ready to use; use one Connector (by pointer) for all systems, so that
// tokens are shared.
type Connector struct {
	// Timeout bounds one request; zero means 15 seconds.
	Timeout time.Duration

	tokens tokenCache

	// scope replaces the token scope "{graphEndpoint}/.default" (tests:
	// their fake Graph has another host but issues tokens for
	// https://graph.microsoft.com).
	scope string
	// pageSize is the $top of member lists; 999, Graph's maximum, when 0.
	// Sign-in log pages take it too when it is below their maximum, 1000.
	pageSize int
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials lists KeyClientID when the Secret lacks it, and the
// half of a certificate credential that is missing, or, without any,
// KeyClientSecret (noting the certificate alternative).
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	missing := connectors.Missing(data, KeyClientID)
	switch {
	case len(data[KeyCertificate]) > 0 || len(data[KeyPrivateKey]) > 0:
		missing = append(missing, connectors.Missing(data, KeyCertificate, KeyPrivateKey)...)
	case len(data[KeyClientSecret]) == 0:
		missing = append(missing, KeyClientSecret+" (or "+KeyCertificate+" and "+KeyPrivateKey+", preferred)")
	}
	return missing
}

// ObservesState is true: Ensure reads the user and the memberships first.
func (c *Connector) ObservesState() bool { return true }

// Ensure makes the user's group memberships match state (a group that
// another grant of the contractor keeps, Target.MembershipKeptBySibling, is
// not left), its accountEnabled match the account's state over the
// contractor's grants (Target.AccountState), and revokes its sign-in
// sessions when state is a change (Target.Changes) of this grant to
// Quarantined, Revoked, Expired or removed.
// The contractor's account is the user's userPrincipalName (or object id).
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	if t.Account == "" {
		return connectors.Change{}, nil
	}
	g, err := c.client(t.System, t.Credentials)
	if err != nil {
		return connectors.Change{}, err
	}
	defer g.close()
	u, err := g.findUser(ctx, t.Account)
	if err != nil {
		return connectors.Change{}, err
	}
	if u == nil {
		if connectors.Removes(state) {
			return connectors.Change{}, nil
		}
		return connectors.Change{}, fmt.Errorf("no Entra ID user %q in the tenant: create the contractor's account, or fix the account id in the Contractor", t.Account)
	}
	return c.reconcile(ctx, g, t, state, u)
}

// Check gets a token and lists one group, which proves the credentials and
// a group read permission, then looks up every exact name in
// spec.allowedEntitlements and the quarantine group, and reports the ones
// that name no group (or several).
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	g, err := c.client(system, credentials)
	if err != nil {
		return err
	}
	defer g.close()
	if _, err := g.do(ctx, "GET", "/v1.0/groups?$top=1&$select=id", nil, permReadGroups); err != nil {
		return err
	}
	var names []string
	for _, e := range system.Spec.AllowedEntitlements {
		if !strings.Contains(e, "*") {
			names = append(names, e)
		}
	}
	if q := system.Spec.Entra.QuarantineGroup; q != "" {
		names = append(names, q)
	}
	slices.Sort(names)
	var missing, problems []string
	for _, name := range slices.Compact(names) {
		grp, err := g.findGroup(ctx, name)
		switch {
		case errors.Is(err, connectors.ErrCredentials) || errors.Is(err, connectors.ErrUnreachable) || errors.Is(err, connectors.ErrTLS):
			return err
		case err != nil:
			problems = append(problems, err.Error())
		case grp == nil:
			missing = append(missing, fmt.Sprintf("%q", name))
		}
	}
	if len(missing) > 0 {
		problems = append([]string{fmt.Sprintf("no Entra ID group has the displayName %s: create the group(s), or fix spec.allowedEntitlements or spec.entra.quarantineGroup",
			strings.Join(missing, ", "))}, problems...)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// client checks the settings and the credentials and builds the Graph
// client. It sends nothing: an endpoint that is not https://, or that
// carries credentials, is refused before any secret could leave.
func (c *Connector) client(system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*graph, error) {
	s := system.Spec.Entra
	if s == nil {
		return nil, errors.New("the system has no entra settings (spec.entra)")
	}
	if !validTenant(s.TenantID) {
		return nil, errors.New("spec.entra.tenantID must be the directory (tenant) id or a verified domain: letters, digits, '.' and '-'")
	}
	authority, err := endpoint("spec.entra.authorityHost", s.AuthorityHost, DefaultAuthorityHost)
	if err != nil {
		return nil, err
	}
	base, err := endpoint("spec.entra.graphEndpoint", s.GraphEndpoint, DefaultGraphEndpoint)
	if err != nil {
		return nil, err
	}
	cred, err := parseCredentials(credentials)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	httpClient, err := connectors.HTTPClient(s.CABundle, timeout)
	if err != nil {
		return nil, fmt.Errorf("spec.entra: %w", err)
	}
	scope := c.scope
	if scope == "" {
		scope = base + "/.default"
	}
	tokenURL := authority + "/" + s.TenantID + "/oauth2/v2.0/token"
	pageSize := c.pageSize
	if pageSize <= 0 {
		pageSize = 999
	}
	return &graph{
		c: c, http: httpClient, base: base, host: strings.TrimPrefix(base, "https://"),
		tokenURL: tokenURL, scope: scope, cred: cred, pageSize: pageSize,
		cacheKey: cacheKey(system, tokenURL, scope, credentials),
		secrets:  slices.Clone(cred.redact),
	}, nil
}

// endpoint is an https:// URL of a scheme and a host only, raw or def.
func endpoint(field, raw, def string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := connectors.CheckHTTPURL(field, raw, false, "the app's credentials and access tokens")
	if err != nil {
		return "", err
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%s %s must be a scheme and a host only, like %s", field, connectors.RedactURL(raw), def)
	}
	return "https://" + u.Host, nil
}

const tenantChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

// validTenant accepts what the CRD does: ^[A-Za-z0-9][A-Za-z0-9.-]*$, at
// most 253 characters.
func validTenant(t string) bool {
	if t == "" || len(t) > 253 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, r := range t {
		if !strings.ContainsRune(tenantChars, r) {
			return false
		}
	}
	return true
}
