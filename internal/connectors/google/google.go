// Package google enforces grants in a Google Workspace account through the
// Admin SDK Directory API: a grant's entitlement is the membership of a
// group named by its email address; a quarantine suspends the user
// (Suspend mode) or moves it to a quarantine group (Group mode); and a
// grant that is quarantined, revoked, expired or deleted signs the user out
// of all its sessions (users.signOut): once per change of state
// (Target.Changes), and again on the retry of a change that failed halfway.
//
// The connector authenticates as a service account with domain-wide
// delegation: it signs a JWT with the account's key (the JSON key file in
// the credentials Secret), impersonating spec.google.adminEmail, and
// exchanges it at Google's token endpoint for an access token, which it
// caches per system and key until shortly before it expires. The assertion
// goes to spec.google.tokenURL (by default Google's), never to the
// token_uri of the key file.
//
// The connector also reads the Workspace login activities from the Admin
// SDK Reports API (ReadSignIns), for the sign-in log.
package google

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// KeyServiceAccountKey is the key of the credentials Secret that holds the
// service account's JSON key file.
const KeyServiceAccountKey = "serviceAccountKey"

// Google's endpoints, used when the settings name none.
const (
	DefaultEndpoint = "https://admin.googleapis.com/"
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
)

// Scopes are the OAuth 2.0 scopes Ensure and Check ask for, each of which
// an administrator must authorise for the service account's client ID in
// domain-wide delegation: users (read, suspend), group members, and user
// security (users.signOut needs it and accepts no other scope).
// ReadSignIns asks for ReportsScope alone.
var Scopes = []string{
	admin.AdminDirectoryUserScope,
	admin.AdminDirectoryGroupMemberScope,
	admin.AdminDirectoryUserSecurityScope,
}

// Connector talks to the Admin SDK over HTTPS only. The zero value is ready
// to use; use one Connector (by pointer) for all systems, so that tokens
// are shared. It must not be copied.
type Connector struct {
	// Timeout bounds one request; zero means 15 seconds.
	Timeout time.Duration

	tokens tokenCache
	// retryBase is the first backoff of a throttled request; a second
	// when zero (tests shorten it).
	retryBase time.Duration
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials lists KeyServiceAccountKey when the Secret lacks it.
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	return connectors.Missing(data, KeyServiceAccountKey)
}

// ObservesState is true: Ensure reads the user and its memberships first.
func (c *Connector) ObservesState() bool { return true }

// Ensure makes the user's membership of the entitlement's group follow
// state (a group that another grant of the contractor keeps,
// Target.MembershipKeptBySibling, is not left), its suspension (Suspend mode) or quarantine group (Group mode)
// follow the account's state over the contractor's grants
// (Target.AccountState), and signs it out when state is a change
// (Target.Changes) to Quarantined, Revoked, Expired or removed. The
// contractor's account is the user's primary email address.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	if t.Account == "" {
		return connectors.Change{}, nil
	}
	if err := validKey("the account", t.Account); err != nil {
		return connectors.Change{}, err
	}
	a, err := c.client(ctx, t.System, t.Credentials, Scopes)
	if err != nil {
		return connectors.Change{}, err
	}
	defer a.close()
	if err := a.start(); err != nil {
		return connectors.Change{}, err
	}
	u, err := a.getUser(ctx, t.Account)
	switch {
	case err != nil:
		return connectors.Change{}, err
	case u == nil && connectors.Removes(state):
		// Nobody signs in as a user that does not exist.
		return connectors.Change{}, nil
	case u == nil:
		return connectors.Change{}, fmt.Errorf("no Google Workspace user %q: create the contractor's account first, or fix the account in the Contractor", t.Account)
	case strings.EqualFold(u.email, a.subject):
		return connectors.Change{}, fmt.Errorf("the account %q is spec.google.adminEmail, the admin the connector acts as: refusing to act on it", t.Account)
	}
	r := &run{a: a, user: u}
	err = r.reconcile(ctx, t, state)
	if t.EndsSessions(state) {
		err = r.signOut(ctx, err)
	}
	return r.Change(), err
}

// run is one Ensure's changes so far.
type run struct {
	connectors.Steps
	a    *api
	user *user
}

// reconcile suspends the user first (Suspend mode), so that a quarantined
// user cannot sign in again while its groups change, then sets the
// memberships, and restores a suspended user last. Membership of the
// grant's group follows the grant's own state; the suspension and the
// quarantine group belong to the account.
func (r *run) reconcile(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) error {
	s := t.System.Spec.Google
	account := t.AccountState(state)
	groupMode := s.QuarantineMode == accessv1alpha1.IdentityQuarantineGroup
	group := t.Grant.Spec.Entitlement.Name
	if err := checkGroups(group, s, groupMode); err != nil {
		return err
	}
	if !groupMode && account == accessv1alpha1.GrantQuarantined && !r.user.suspended {
		if err := r.Do("suspended the user", func() error { return r.a.setSuspended(ctx, r.user, true) }); err != nil {
			return err
		}
	}
	want := connectors.KeepsMembership(state, groupMode)
	kept := !want && t.MembershipKeptBySibling(groupMode)
	if err := r.membership(ctx, group, "the grant's spec.entitlement.name", want, kept); err != nil {
		return err
	}
	if groupMode {
		if err := r.membership(ctx, s.QuarantineGroup, "spec.google.quarantineGroup", account == accessv1alpha1.GrantQuarantined, false); err != nil {
			return err
		}
	}
	if !groupMode && account == accessv1alpha1.GrantActive && r.user.suspended && t.Restores(state) {
		return r.Do("unsuspended the user", func() error { return r.a.setSuspended(ctx, r.user, false) })
	}
	return nil
}

// checkGroups refuses group keys that no email address has, and, in Group
// mode, a quarantine group that is the grant's own.
func checkGroups(group string, s *accessv1alpha1.GoogleSettings, groupMode bool) error {
	if err := validKey("the grant's spec.entitlement.name", group); err != nil || !groupMode {
		return err
	}
	if err := validKey("spec.google.quarantineGroup", s.QuarantineGroup); err != nil {
		return err
	}
	if strings.EqualFold(s.QuarantineGroup, group) {
		return fmt.Errorf("spec.google.quarantineGroup %q is the grant's own group", s.QuarantineGroup)
	}
	return nil
}

// membership puts the user in the group, or takes it out unless another
// grant of the contractor keeps it there (kept). A group that does not
// exist holds nobody: only adding to it is an error.
func (r *run) membership(ctx context.Context, group, field string, want, kept bool) error {
	exists, has, err := r.a.membership(ctx, group, r.user)
	switch {
	case err != nil:
		return err
	case want == has:
		return nil
	case kept:
		r.Note(connectors.KeptBySibling("in group " + group))
		return nil
	case !exists:
		return fmt.Errorf("no Google Workspace group %q: create it, or fix %s", group, field)
	case want:
		return r.Do("added to group "+group, func() error { return r.a.addMember(ctx, group, r.user) })
	}
	return r.Do("removed from group "+group, func() error { return r.a.removeMember(ctx, group, r.user) })
}

// signOut signs the user out of all sessions. It runs after the other
// steps, and also when one of them failed (prior is its error), so that a
// half-applied quarantine still cuts the user off. The controller records
// the state only once every step succeeded, so the retry starts From the
// earlier state again and signs the user out once more.
func (r *run) signOut(ctx context.Context, prior error) error {
	err := r.Do("signed the user out of all sessions", func() error { return r.a.signOut(ctx, r.user) })
	if prior != nil {
		return errors.Join(prior, err)
	}
	return err
}

// Check gets an access token and reads spec.google.adminEmail's user,
// which proves the key, the delegation and the admin, then looks up every
// exact group of spec.allowedEntitlements and the quarantine group, and
// reports the ones the account lacks.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	a, err := c.client(ctx, system, credentials, Scopes)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.start(); err != nil {
		return err
	}
	if _, err := a.getUser(ctx, a.subject); err != nil {
		return err
	}
	var missing, problems []string
	for _, group := range checkedGroups(system) {
		if err := validKey("group", group); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		exists, err := a.groupExists(ctx, group)
		switch {
		case errors.Is(err, connectors.ErrCredentials) || errors.Is(err, connectors.ErrUnreachable) ||
			errors.Is(err, connectors.ErrTLS) || ctx.Err() != nil:
			return err
		case err != nil:
			problems = append(problems, err.Error())
		case !exists:
			missing = append(missing, fmt.Sprintf("%q", group))
		}
	}
	if len(missing) > 0 {
		problems = append([]string{"the Workspace account has no group " + strings.Join(missing, ", ") +
			": create them, or fix spec.allowedEntitlements or spec.google.quarantineGroup"}, problems...)
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
// quarantine group (Group mode), once each.
func checkedGroups(system *accessv1alpha1.ConnectedSystem) []string {
	seen := map[string]bool{}
	var groups []string
	add := func(g string) {
		if g != "" && !strings.Contains(g, "*") && !seen[strings.ToLower(g)] && len(groups) < maxCheckedGroups {
			seen[strings.ToLower(g)] = true
			groups = append(groups, g)
		}
	}
	for _, g := range system.Spec.AllowedEntitlements {
		add(g)
	}
	if s := system.Spec.Google; s != nil && s.QuarantineMode == accessv1alpha1.IdentityQuarantineGroup {
		add(s.QuarantineGroup)
	}
	return groups
}
