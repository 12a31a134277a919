// Package okta enforces grants in an Okta org through its Management API
// (v1): a grant's entitlement is an Okta group that the contractor's Okta
// user is a member of; a quarantine suspends the user (or moves it to a
// quarantine group), and a change of the grant to Quarantined, Revoked,
// Expired or removed ends the user's sessions and revokes its OAuth tokens:
// once per change of state (Target.Changes), and again on the retry of a
// change that failed halfway.
package okta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// The keys of the credentials Secret. An OAuth 2.0 service app (KeyClientID
// and KeyPrivateKey, optionally KeyKeyID) is preferred over KeyAPIToken
// when both are set.
const (
	KeyClientID   = "clientID"
	KeyPrivateKey = "privateKey"
	KeyKeyID      = "keyID"
	KeyAPIToken   = "apiToken"
)

// Scopes are the Okta API scopes the connector asks the org authorization
// server for to enforce grants (Ensure, Check): nothing more than it uses.
// Reading the System Log asks for LogScopes alone.
const Scopes = "okta.users.manage okta.groups.manage"

// Connector talks to the org over HTTPS, or over HTTP when the system sets
// spec.insecure. Its zero value is ready to use; it must not be copied.
type Connector struct {
	// Timeout bounds one request; zero means 15 seconds.
	Timeout time.Duration
	// MaxRateLimitWait bounds one wait for a rate limit to reset; zero
	// means 60 seconds. A limit that resets later fails the call, and the
	// controller retries with backoff.
	MaxRateLimitWait time.Duration

	mu     sync.Mutex
	tokens map[string]cachedToken
	limits map[string]rateState
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials asks for an API token or a service app's client id
// and private key; a Secret with half of the service app names the other
// half.
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	if len(data[KeyAPIToken]) > 0 {
		return nil
	}
	if len(data[KeyClientID]) > 0 || len(data[KeyPrivateKey]) > 0 {
		return connectors.Missing(data, KeyClientID, KeyPrivateKey)
	}
	return []string{KeyAPIToken + ", or " + KeyClientID + " and " + KeyPrivateKey}
}

// ObservesState is true: Ensure reads the user, its groups and its status
// before it writes.
func (c *Connector) ObservesState() bool { return true }

// Ensure makes the user's membership of the entitlement's group follow state
// (a group that another grant of the contractor keeps,
// Target.MembershipKeptBySibling, is not left), its status (or quarantine
// group) follow the account's state over the contractor's grants
// (Target.AccountState), and ends its sessions when state is a change
// (Target.Changes) to Quarantined, Revoked, Expired or removed: once per
// change of state, and again on the retry of a change that failed halfway.
// Re-applying the state last applied in full (a periodic reconcile, drift
// repair) never ends them; Active never does.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	if t.Account == "" {
		return connectors.Change{}, nil
	}
	a, err := c.client(t.System, t.Credentials)
	if err != nil {
		return connectors.Change{}, err
	}
	defer a.close()
	u, err := a.findUser(ctx, t.Account)
	if err != nil {
		return connectors.Change{}, err
	}
	switch gone := u == nil || u.Status == statusDeprovisioned; {
	case gone && connectors.Removes(state):
		// Nobody can sign in as a user that does not exist or is
		// deprovisioned: there is nothing to remove.
		return connectors.Change{}, nil
	case u == nil:
		return connectors.Change{}, fmt.Errorf("no Okta user with the login %q: provision the contractor's account first", t.Account)
	case gone:
		return connectors.Change{}, fmt.Errorf("the Okta user %q is deprovisioned: reactivate it in Okta, or end the grant", t.Account)
	}
	r := &run{a: a, user: u}
	err = r.reconcile(ctx, t, state)
	if t.EndsSessions(state) {
		err = r.endSessions(ctx, err)
	}
	return r.Change(), err
}

// run is one Ensure's changes so far.
type run struct {
	connectors.Steps
	a    *api
	user *user
}

// reconcile sets the user's status (Suspend mode) first, so that a
// quarantined user cannot sign in again while its groups change, then the
// memberships. Membership of the grant's group follows the grant's own
// state; status and the quarantine group belong to the account.
func (r *run) reconcile(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) error {
	s := t.System.Spec.Okta
	account := t.AccountState(state)
	groupMode := s.QuarantineMode == accessv1alpha1.IdentityQuarantineGroup
	if groupMode && strings.EqualFold(s.QuarantineGroup, t.Grant.Spec.Entitlement.Name) {
		// The user would be added to and taken out of it on every reconcile.
		return fmt.Errorf("spec.okta.quarantineGroup %q is the grant's own group: grant another group, or quarantine into one no grant names", s.QuarantineGroup)
	}
	if !groupMode {
		if err := r.status(ctx, account, t.Restores(state)); err != nil {
			return err
		}
	}
	want := connectors.KeepsMembership(state, groupMode)
	kept := !want && t.MembershipKeptBySibling(groupMode)
	if err := r.membership(ctx, t.Grant.Spec.Entitlement.Name, "spec.entitlement.name", want, kept); err != nil {
		return err
	}
	if groupMode {
		return r.membership(ctx, s.QuarantineGroup, "spec.okta.quarantineGroup", account == accessv1alpha1.GrantQuarantined, false)
	}
	return nil
}

// status suspends the user while the account is quarantined and
// unsuspends it once the account is active. Okta suspends only users who
// have activated; a STAGED or PROVISIONED user cannot sign in and is left
// as it is.
func (r *run) status(ctx context.Context, account accessv1alpha1.GrantState, restores bool) error {
	switch {
	case account == accessv1alpha1.GrantQuarantined && suspendable(r.user.Status):
		return r.Do("suspended the user", func() error { return r.a.lifecycle(ctx, r.user.ID, "suspend") })
	case account == accessv1alpha1.GrantActive && r.user.Status == statusSuspended && restores:
		return r.Do("unsuspended the user", func() error { return r.a.lifecycle(ctx, r.user.ID, "unsuspend") })
	}
	return nil
}

// membership puts the user in the group called name, or takes it out,
// unless another grant of the contractor keeps it there (kept). A group
// that does not exist holds nobody: only adding to it is an error.
func (r *run) membership(ctx context.Context, name, field string, want, kept bool) error {
	g, err := r.a.findGroup(ctx, name)
	if err != nil {
		return err
	}
	if g == nil {
		if !want {
			return nil
		}
		return fmt.Errorf("no Okta group named %q: create it, or fix %s", name, field)
	}
	has, err := r.a.isMember(ctx, g, r.user.ID)
	if err != nil {
		return err
	}
	switch {
	case want == has:
		return nil
	case kept:
		r.Note(connectors.KeptBySibling("in group " + g.Profile.Name))
		return nil
	}
	if err := g.managed(); err != nil {
		return err
	}
	if want {
		return r.Do("added to group "+g.Profile.Name, func() error { return r.a.setMember(ctx, g.ID, r.user.ID, true) })
	}
	return r.Do("removed from group "+g.Profile.Name, func() error { return r.a.setMember(ctx, g.ID, r.user.ID, false) })
}

// endSessions ends the user's sessions and revokes its OAuth tokens. It
// runs after the other steps, and also when one of them failed (prior is
// its error), so that a half-applied quarantine still cuts the user off.
// The controller records the state only once every step succeeded, so the
// retry starts From the earlier state again and ends the sessions once
// more, after the user can no longer sign in again.
func (r *run) endSessions(ctx context.Context, prior error) error {
	err := r.Do("ended the user's sessions", func() error { return r.a.clearSessions(ctx, r.user.ID) })
	if prior != nil {
		return errors.Join(prior, err)
	}
	return err
}

// Check gets a token (for a service app) and lists one group, then looks
// up every exact name of spec.allowedEntitlements and the quarantine group,
// and reports the ones the org lacks.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	a, err := c.client(system, credentials)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.call(ctx, routeListGroups, "GET", "/api/v1/groups?limit=1"); err != nil {
		return err
	}
	if _, err := a.call(ctx, routeListUsers, "GET", "/api/v1/users?limit=1"); err != nil {
		return err
	}
	var missing, problems []string
	for _, name := range checkedGroups(system) {
		g, err := a.findGroup(ctx, name)
		switch {
		case errors.Is(err, connectors.ErrCredentials) || errors.Is(err, connectors.ErrUnreachable) ||
			errors.Is(err, connectors.ErrTLS) || ctx.Err() != nil:
			return err
		case err != nil:
			problems = append(problems, err.Error())
		case g == nil:
			missing = append(missing, fmt.Sprintf("%q", name))
		}
	}
	if len(missing) > 0 {
		problems = append([]string{"the org has no group named " + strings.Join(missing, ", ") +
			": create them, or fix spec.allowedEntitlements or spec.okta.quarantineGroup"}, problems...)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// maxCheckedGroups bounds the lookups of one Check (the CRD allows 256
// allowed entitlements, and one quarantine group).
const maxCheckedGroups = 257

// checkedGroups are the exact (pattern-free) allowed entitlements and the
// quarantine group, once each.
func checkedGroups(system *accessv1alpha1.ConnectedSystem) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if n != "" && !strings.Contains(n, "*") && !seen[n] && len(names) < maxCheckedGroups {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range system.Spec.AllowedEntitlements {
		add(n)
	}
	if s := system.Spec.Okta; s != nil && s.QuarantineMode == accessv1alpha1.IdentityQuarantineGroup {
		add(s.QuarantineGroup)
	}
	return names
}
