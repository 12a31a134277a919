// Package connectors puts grants' entitlements into the state their
// decisions ask for, in the connected systems. One connector serves each
// system type, behind the Connector interface.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Target is one grant's entitlement in its connected system.
type Target struct {
	Grant      *accessv1alpha1.AccessGrant
	Contractor *accessv1alpha1.Contractor
	System     *accessv1alpha1.ConnectedSystem
	// Account is the contractor's account on the system.
	Account string
	// Credentials are the data of the system's credentials Secret. They
	// never appear in logs, status or events.
	Credentials map[string][]byte
	// Transition identifies the state change being applied, so that
	// retries of the same change carry the same id (webhook idempotency).
	Transition string
	// From is the state last applied to the entitlement in full: the
	// controller records a state only once every step of applying it
	// succeeded, so a change that failed halfway still starts From the
	// earlier state on its retry. Empty before the first.
	From accessv1alpha1.GrantState
	// Siblings are the states that the contractor's other grants on the
	// same system hold there. Account-level settings (login, activation,
	// locks, a shared quarantine group) follow AccountState, not one grant.
	Siblings []accessv1alpha1.GrantState
	// SameEntitlement are the states, among Siblings, of the contractor's
	// other grants on the system for the same entitlement as this one
	// (kind, name and namespace alike), leaving out grants being deleted.
	// Two such grants share one membership or role grant in the system:
	// it goes only when none of them keeps it (MembershipKeptBySibling).
	SameEntitlement []accessv1alpha1.GrantState
}

// AccountState is the state the contractor's account on the system must be
// in when this grant's entitlement goes to own: the most restrictive state
// that any of the contractor's grants there holds. A quarantine of one
// grant keeps the account locked until no grant of it is quarantined;
// memberships and role grants still follow own. When no grant holds the
// account (every one is removed, revoked, expired or pending), it is own.
func (t Target) AccountState(own accessv1alpha1.GrantState) accessv1alpha1.GrantState {
	out := own
	for _, s := range t.Siblings {
		if accountRank(s) > accountRank(out) {
			out = s
		}
	}
	return out
}

// Changes reports whether applying state is a change from the state last
// applied, rather than the same state applied again (a periodic check,
// drift repair). Identity connectors end the account's sessions on a
// change to Quarantined, Revoked, Expired or removed: once per change,
// and again on the retry of a change that failed halfway.
func (t Target) Changes(state accessv1alpha1.GrantState) bool {
	return t.From != state
}

// EndsSessions reports whether applying state ends the account's sessions
// in an identity provider: a change (Changes) to Quarantined, Revoked,
// Expired or removed. Never Active.
func (t Target) EndsSessions(state accessv1alpha1.GrantState) bool {
	return (state == accessv1alpha1.GrantQuarantined || Removes(state)) && t.Changes(state)
}

// Restores reports whether applying state may lift an account-level
// quarantine (unsuspend, re-enable): only on a change away from
// Quarantined. A periodic check of an active grant never re-enables an
// account that someone suspended by hand, in the identity provider, for
// reasons of their own.
func (t Target) Restores(state accessv1alpha1.GrantState) bool {
	return t.From == accessv1alpha1.GrantQuarantined && state != accessv1alpha1.GrantQuarantined
}

// KeepsMembership reports whether a grant in state keeps its group in an
// identity provider: Active does, and Quarantined does unless the
// quarantine moves the account to a quarantine group instead (groupMode).
func KeepsMembership(state accessv1alpha1.GrantState, groupMode bool) bool {
	return state == accessv1alpha1.GrantActive || (state == accessv1alpha1.GrantQuarantined && !groupMode)
}

// MembershipKeptBySibling reports whether another grant of the contractor
// keeps the membership (group, role) that this grant's entitlement gives:
// a grant for the same entitlement in a state that keeps it
// (KeepsMembership, with the same groupMode). A connector that would take
// the account out then leaves it in, and says so (KeptBySibling); the rest
// of what the state asks for (sessions, the account's state) still
// happens.
func (t Target) MembershipKeptBySibling(groupMode bool) bool {
	for _, s := range t.SameEntitlement {
		if KeepsMembership(s, groupMode) {
			return true
		}
	}
	return false
}

// KeptBySibling is the detail of a removal skipped because another grant
// of the contractor holds what (a group, a role) too.
func KeptBySibling(what string) string {
	return "kept " + what + ": another grant of the contractor holds it"
}

// Steps records what one Ensure did, in order, for its Change.
type Steps struct {
	done    []string
	changes int
}

// Do runs one step and records what it did when it succeeded.
func (s *Steps) Do(what string, do func() error) error {
	if err := do(); err != nil {
		return err
	}
	s.Done(what)
	return nil
}

// Done records a step that succeeded.
func (s *Steps) Done(what string) {
	s.done = append(s.done, what)
	s.changes++
}

// Note records, among the steps, something that Ensure left as it is on
// purpose: it appears in the detail, and is no change.
func (s *Steps) Note(what string) {
	s.done = append(s.done, what)
}

// Change says what the steps so far did.
func (s *Steps) Change() Change {
	return Change{Changed: s.changes > 0, Detail: strings.Join(s.done, "; ")}
}

// accountRank orders states by what they ask of the account: a quarantine
// locks it, an active grant opens it, the others leave it as it is.
func accountRank(s accessv1alpha1.GrantState) int {
	switch s {
	case accessv1alpha1.GrantQuarantined:
		return 2
	case accessv1alpha1.GrantActive:
		return 1
	}
	return 0
}

// Change says what Ensure did.
type Change struct {
	// Changed is true when the system was modified.
	Changed bool
	// Detail says what was (or, in dry run, would be) done, for events.
	Detail string
}

// Connector is one system type's way to enforce grants.
type Connector interface {
	// Ensure puts the entitlement into state. It is idempotent: applying the
	// state it is already in changes nothing. GrantPending is never passed;
	// the empty state means the grant is gone and its entitlement must go.
	Ensure(ctx context.Context, t Target, state accessv1alpha1.GrantState) (Change, error)
	// ObservesState is true when Ensure reads the system's actual state, so
	// calling it on every reconcile repairs drift. Connectors that cannot
	// read state back (webhooks) are called only when the state changes.
	ObservesState() bool
	// Check tests that the system is reachable with its credentials.
	Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error
}

// StateRemoved is the state of an entitlement whose grant is being deleted.
const StateRemoved accessv1alpha1.GrantState = ""

// ErrNoConnector is returned for a system type without a connector.
var ErrNoConnector = errors.New("no connector for this system type")

// The causes of a connectivity failure that every connector tells apart;
// its errors wrap one of them with the details.
var (
	ErrCredentials = errors.New("the system refused the credentials")
	ErrUnreachable = errors.New("the system cannot be reached")
	ErrTLS         = errors.New("the TLS handshake failed")
)

// The settings that a connector refuses before it contacts the system: the
// CRD refuses them on apply, and objects created before those rules are
// refused here. Their errors say what to change.
var (
	// ErrInsecure is a connection that would carry credentials or data
	// without TLS while spec.insecure is false.
	ErrInsecure = errors.New("the connection would not be protected by TLS")
	// ErrCredentialsInURL is a URL with user info (user:password@host):
	// credentials belong in the system's credentials Secret.
	ErrCredentialsInURL = errors.New("the URL carries credentials")
)

// Registry maps system types to connectors.
type Registry map[accessv1alpha1.SystemType]Connector

// For returns the connector of a system's type.
func (r Registry) For(t accessv1alpha1.SystemType) (Connector, error) {
	c, ok := r[t]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoConnector, t)
	}
	return c, nil
}

// AccountOn returns the contractor's account id on a system, or "".
func AccountOn(c *accessv1alpha1.Contractor, system string) string {
	for _, a := range c.Spec.Accounts {
		if a.System == system {
			return a.ID
		}
	}
	return ""
}

// Removes reports whether a state means the entitlement must be absent.
func Removes(state accessv1alpha1.GrantState) bool {
	return state == StateRemoved || state == accessv1alpha1.GrantRevoked || state == accessv1alpha1.GrantExpired
}
