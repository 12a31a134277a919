package okta

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

const (
	login    = "sam@contractors.example.com"
	clientID = "0oa-portcullis-test"
	apiToken = "00-test-api-token-s3cret"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

func pkcs8PEM(t testing.TB, key *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func pkcs1PEM(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// env is a fake org with the contractor sam, bystander alice, the groups
// payments-engineers, admins and quarantine, and a target for sam's grant
// of payments-engineers.
type env struct {
	t                            *testing.T
	srv                          *oktaserver.Server
	c                            *Connector
	target                       connectors.Target
	sam, alice                   string
	payments, admins, quarantine string
	keyPEM                       []byte
}

func newEnv(t *testing.T, mode accessv1alpha1.IdentityQuarantineMode, oauth bool, opts oktaserver.Options) *env {
	t.Helper()
	srv := oktaserver.New(opts)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, c: &Connector{}, keyPEM: pkcs8PEM(t, testKey())}
	srv.AddAPIToken(apiToken, "")
	srv.RegisterClient(clientID, &testKey().PublicKey, oktaserver.ScopeUsersManage, oktaserver.ScopeGroupsManage)
	e.sam, e.alice = srv.AddUser(login), srv.AddUser("alice@contractors.example.com")
	e.payments, e.admins, e.quarantine = srv.AddGroup("payments-engineers"), srv.AddGroup("admins"), srv.AddGroup("quarantine")
	srv.AddMember(e.payments, e.alice)
	srv.AddMember(e.admins, e.alice)
	creds := map[string][]byte{KeyAPIToken: []byte(apiToken)}
	if oauth {
		creds = map[string][]byte{KeyClientID: []byte(clientID), KeyPrivateKey: e.keyPEM}
	}
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "okta", UID: "sys-uid"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta,
			AllowedEntitlements: []string{"payments-engineers", "admins", "team-*"},
			Okta: &accessv1alpha1.OktaSettings{OrgURL: srv.URL(), QuarantineMode: mode, QuarantineGroup: "quarantine",
				CABundle: srv.CertificatePEM()}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g", UID: "grant-uid"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: "payments-engineers"}}}
	e.target = connectors.Target{Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{},
		Account: login, Credentials: creds, Transition: "t1"}
	return e
}

// ensure applies state and fails the test on an error.
func (e *env) ensure(t *testing.T, transition string, s accessv1alpha1.GrantState) connectors.Change {
	t.Helper()
	ch, err := e.try(transition, s)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", s, err)
	}
	return ch
}

// try applies state as the controller does: From is the state last applied
// in full (empty before the first), and moves on to s only after a success,
// so that the retry of a change that failed halfway starts From the earlier
// state again.
func (e *env) try(transition string, s accessv1alpha1.GrantState) (connectors.Change, error) {
	e.target.Transition = transition
	ch, err := e.c.Ensure(context.Background(), e.target, s)
	e.noSecrets(err)
	if err == nil {
		e.target.From = s
	}
	return ch, err
}

// sessionCalls counts the requests that ended sam's sessions.
func (e *env) sessionCalls() int { return e.srv.Requests(oktaserver.RouteClearSessions) }

var writeRoutes = []string{oktaserver.RouteSuspend, oktaserver.RouteUnsuspend, oktaserver.RouteClearSessions,
	oktaserver.RouteAddGroupMember, oktaserver.RouteRemoveGroupMember}

func (e *env) writes() int {
	n := 0
	for _, r := range writeRoutes {
		n += e.srv.Requests(r)
	}
	return n
}

func (e *env) member(group, who string) bool {
	for _, m := range e.srv.Members(group) {
		if strings.EqualFold(m, who) {
			return true
		}
	}
	return false
}

// bystanderUntouched fails unless alice is as she was.
func (e *env) bystanderUntouched(t *testing.T) {
	t.Helper()
	alice := "alice@contractors.example.com"
	if e.srv.UserStatus(alice) != oktaserver.StatusActive || !e.member(e.payments, alice) || !e.member(e.admins, alice) {
		t.Fatal("a grant for sam changed alice")
	}
}

// noSecrets fails the test when err shows a credential.
func (e *env) noSecrets(err error) {
	e.t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{apiToken, "PRIVATE KEY", string(e.keyPEM[40:80])} {
		if strings.Contains(err.Error(), s) {
			e.t.Errorf("the error shows a secret: %v", err)
		}
	}
}

func TestActiveIsIdempotentWithBothAuthFlows(t *testing.T) {
	for name, oauth := range map[string]bool{"service app": true, "API token": false} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, "", oauth, oktaserver.Options{})
			ch := e.ensure(t, "t1", accessv1alpha1.GrantActive)
			if !ch.Changed || ch.Detail != "added to group payments-engineers" || !e.member(e.payments, login) {
				t.Fatalf("Active: %+v, members %v", ch, e.srv.Members(e.payments))
			}
			writes := e.writes()
			if ch := e.ensure(t, "t1", accessv1alpha1.GrantActive); ch.Changed || e.writes() != writes {
				t.Fatalf("applying Active twice wrote: %+v", ch)
			}
			if e.member(e.admins, login) || e.srv.UserStatus(login) != oktaserver.StatusActive {
				t.Fatal("Active changed more than the membership")
			}
			wantTokens := 0
			if oauth {
				wantTokens = 1 // the access token is cached
			}
			if n := e.srv.Requests(oktaserver.RouteToken); n != wantTokens {
				t.Fatalf("%d token requests, want %d", n, wantTokens)
			}
			e.bystanderUntouched(t)
		})
	}
}

func TestOAuthWithPKCS1KeyAndKeyID(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.target.Credentials = map[string][]byte{KeyClientID: []byte(clientID), KeyPrivateKey: pkcs1PEM(testKey()),
		KeyKeyID: []byte("kid-1"), KeyAPIToken: []byte("ignored-when-oauth-is-set")}
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	if !e.member(e.payments, login) || e.srv.Requests(oktaserver.RouteToken) != 1 {
		t.Fatal("the service app with a PKCS#1 key was not used")
	}
}

func TestSuspendModeQuarantineAndRestore(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineSuspend, true, oktaserver.Options{})
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	e.srv.AddSession(e.sam)
	e.srv.AddOAuthToken(e.sam)
	ch := e.ensure(t, "t2", accessv1alpha1.GrantQuarantined)
	if ch.Detail != "suspended the user; ended the user's sessions" {
		t.Fatalf("detail %q", ch.Detail)
	}
	if e.srv.UserStatus(login) != oktaserver.StatusSuspended || e.srv.Sessions(e.sam) != 0 || e.srv.OAuthTokens(e.sam) != 0 {
		t.Fatal("quarantine must suspend the user and end its sessions and OAuth tokens")
	}
	if !e.member(e.payments, login) {
		t.Fatal("Suspend mode keeps the membership")
	}
	// A periodic reconcile of the stable quarantine (From Quarantined, in a
	// new transition) neither writes nor ends the sessions again.
	writes, calls := e.writes(), e.sessionCalls()
	e.srv.AddSession(e.sam)
	if ch := e.ensure(t, "t3", accessv1alpha1.GrantQuarantined); ch.Changed || e.writes() != writes || e.sessionCalls() != calls {
		t.Fatalf("applying Quarantined twice wrote: %+v", ch)
	}
	if e.srv.Sessions(e.sam) != 1 {
		t.Fatal("re-applying a quarantine ended the sessions")
	}
	if ch := e.ensure(t, "t4", accessv1alpha1.GrantActive); ch.Detail != "unsuspended the user" {
		t.Fatalf("restore: %q", ch.Detail)
	}
	if e.srv.UserStatus(login) != oktaserver.StatusActive || !e.member(e.payments, login) || e.srv.Sessions(e.sam) != 1 {
		t.Fatal("Active must unsuspend the user and leave its sessions alone")
	}
	e.bystanderUntouched(t)
}

// A grant on the quarantine group itself would flap between in and out:
// refused, naming the setting.
func TestGroupModeRefusesTheQuarantineGroupAsAnEntitlement(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup, false, oktaserver.Options{})
	e.target.Grant.Spec.Entitlement.Name = e.target.System.Spec.Okta.QuarantineGroup
	if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "is the grant's own group") {
		t.Fatalf("a grant on the quarantine group: %v", err)
	}
}

func TestGroupModeMovesBetweenGroups(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup, false, oktaserver.Options{})
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	e.srv.AddSession(e.sam)
	ch := e.ensure(t, "t2", accessv1alpha1.GrantQuarantined)
	if e.member(e.payments, login) || !e.member(e.quarantine, login) || e.srv.UserStatus(login) != oktaserver.StatusActive {
		t.Fatalf("group mode must move the user to the quarantine group: %+v", ch)
	}
	if e.srv.Sessions(e.sam) != 0 || !strings.Contains(ch.Detail, "ended the user's sessions") {
		t.Fatalf("group mode must end the sessions too: %+v", ch)
	}
	e.ensure(t, "t3", accessv1alpha1.GrantActive)
	if !e.member(e.payments, login) || e.member(e.quarantine, login) {
		t.Fatal("restore must move the user back")
	}
	// A sibling grant's quarantine keeps the account in the quarantine
	// group; this grant stays Active and ends no sessions (the sibling's
	// own change does).
	e.srv.AddSession(e.sam)
	calls := e.sessionCalls()
	e.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantQuarantined}
	ch = e.ensure(t, "t4", accessv1alpha1.GrantActive)
	if !ch.Changed || !e.member(e.payments, login) || !e.member(e.quarantine, login) {
		t.Fatalf("the quarantine group follows the account's state: %+v", ch)
	}
	if e.sessionCalls() != calls || e.srv.Sessions(e.sam) != 1 {
		t.Fatal("an Active grant ended the sessions")
	}
	e.bystanderUntouched(t)
}

func TestRevokedAndRemovedTakeTheMembershipAndEndSessions(t *testing.T) {
	for _, s := range []accessv1alpha1.GrantState{accessv1alpha1.GrantRevoked, accessv1alpha1.GrantExpired, connectors.StateRemoved} {
		t.Run(string(s), func(t *testing.T) {
			e := newEnv(t, "", true, oktaserver.Options{})
			e.ensure(t, "t1", accessv1alpha1.GrantActive)
			e.srv.AddSession(e.sam)
			ch := e.ensure(t, "t2", s)
			if e.member(e.payments, login) || e.srv.Sessions(e.sam) != 0 {
				t.Fatalf("%q: still a member, or sessions left: %+v", s, ch)
			}
			if ch.Detail != "removed from group payments-engineers; ended the user's sessions" {
				t.Fatalf("detail %q", ch.Detail)
			}
			if ch := e.ensure(t, "t3", s); ch.Changed || e.sessionCalls() != 1 {
				t.Fatalf("applying %q twice changed the org: %+v, %d session calls", s, ch, e.sessionCalls())
			}
			e.bystanderUntouched(t)
		})
	}
}

func TestSiblingQuarantineKeepsTheUserSuspended(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.ensure(t, "t1", accessv1alpha1.GrantQuarantined)
	if e.sessionCalls() != 1 {
		t.Fatalf("the first quarantine (From empty) made %d session calls, want 1", e.sessionCalls())
	}
	e.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantActive}
	e.ensure(t, "t2", accessv1alpha1.GrantActive)
	if e.srv.UserStatus(login) != oktaserver.StatusSuspended || !e.member(e.payments, login) {
		t.Fatal("another quarantined grant must keep the account suspended")
	}
	e.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantActive}
	// This grant, Active all along, never lifts a suspension: someone may
	// have suspended the user by hand. The sibling's own change away from
	// its quarantine does.
	if ch := e.ensure(t, "t3", accessv1alpha1.GrantActive); ch.Changed || e.srv.UserStatus(login) != oktaserver.StatusSuspended {
		t.Fatalf("a grant that stayed Active unsuspended the user: %+v", ch)
	}
	e.target.From = accessv1alpha1.GrantQuarantined
	if ch := e.ensure(t, "t3", accessv1alpha1.GrantActive); ch.Detail != "unsuspended the user" {
		t.Fatalf("the sibling's restore: %+v", ch)
	}
	if e.srv.UserStatus(login) != oktaserver.StatusActive {
		t.Fatal("no quarantined grant left: the account must be unsuspended")
	}
	// A sibling's quarantine suspends the account again while this grant
	// stays Active: the account changes, and this grant ends no sessions.
	e.target.Siblings = []accessv1alpha1.GrantState{accessv1alpha1.GrantQuarantined}
	if ch := e.ensure(t, "t4", accessv1alpha1.GrantActive); ch.Detail != "suspended the user" {
		t.Fatalf("the sibling's quarantine: %+v", ch)
	}
	if e.srv.UserStatus(login) != oktaserver.StatusSuspended || e.sessionCalls() != 1 {
		t.Fatalf("the account must follow the sibling; %d session calls, want 1", e.sessionCalls())
	}
}

func TestMissingAndDeprovisionedUsers(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.target.Account = "nobody@contractors.example.com"
	if ch := e.ensure(t, "t1", accessv1alpha1.GrantRevoked); ch.Changed {
		t.Fatal("revoking for a user that does not exist changed something")
	}
	if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "nobody@contractors.example.com") ||
		!strings.Contains(err.Error(), "provision the contractor's account first") {
		t.Fatalf("Active for a missing user: %v", err)
	}
	e.target.Account = login
	e.srv.SetUserStatus(login, oktaserver.StatusDeprovisioned)
	if _, err := e.try("t2", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "deprovisioned") {
		t.Fatalf("Active for a deprovisioned user: %v", err)
	}
	if ch := e.ensure(t, "t3", connectors.StateRemoved); ch.Changed || e.writes() != 0 {
		t.Fatal("removing for a deprovisioned user wrote")
	}
	e.target.Account = ""
	if ch := e.ensure(t, "t4", accessv1alpha1.GrantActive); ch.Changed {
		t.Fatal("no account, nothing to do")
	}
}

func TestMissingGroup(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.target.Grant.Spec.Entitlement.Name = "no-such-group"
	if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), `no Okta group named "no-such-group"`) {
		t.Fatalf("Active on a missing group: %v", err)
	}
	// A group that is gone holds nobody: revoking only ends the sessions.
	if ch := e.ensure(t, "t2", accessv1alpha1.GrantRevoked); ch.Detail != "ended the user's sessions" {
		t.Fatalf("Revoked on a missing group: %+v", ch)
	}
}

func TestSessionsAreEndedAfterAFailureHalfway(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	e.srv.AddSession(e.sam)
	e.srv.FailNext(oktaserver.RouteClearSessions, 1, 500)
	ch, err := e.try("t2", accessv1alpha1.GrantQuarantined)
	if err == nil || !strings.Contains(err.Error(), "500") || ch.Detail != "suspended the user" {
		t.Fatalf("a failing sessions call: %+v, %v", ch, err)
	}
	if e.srv.UserStatus(login) != oktaserver.StatusSuspended || e.srv.Sessions(e.sam) != 1 {
		t.Fatal("the suspension must stay; the sessions are still there")
	}
	if e.target.From != accessv1alpha1.GrantActive {
		t.Fatalf("a failed change must not move From: %q", e.target.From)
	}
	ch = e.ensure(t, "t2", accessv1alpha1.GrantQuarantined) // the retry, From Active again
	if ch.Detail != "ended the user's sessions" || e.srv.Sessions(e.sam) != 0 {
		t.Fatalf("the retry must end the sessions: %+v", ch)
	}
	// Now applied in full: a periodic reconcile ends them no more.
	e.srv.AddSession(e.sam)
	calls := e.sessionCalls()
	if ch := e.ensure(t, "t3", accessv1alpha1.GrantQuarantined); ch.Changed || e.sessionCalls() != calls || e.srv.Sessions(e.sam) != 1 {
		t.Fatalf("a stable quarantine ended the sessions: %+v", ch)
	}
}

func TestSessionsAreEndedWhenTheSuspensionFails(t *testing.T) {
	// A failing suspension: the sessions end at once anyway, and once
	// more when the retry (From Active again) has suspended the user.
	e := newEnv(t, "", true, oktaserver.Options{})
	e.ensure(t, "t4", accessv1alpha1.GrantActive)
	e.srv.AddSession(e.sam)
	e.srv.FailNext(oktaserver.RouteSuspend, 1, 503)
	before := e.sessionCalls()
	if _, err := e.try("t5", accessv1alpha1.GrantQuarantined); !errors.Is(err, connectors.ErrUnreachable) || e.srv.Sessions(e.sam) != 0 {
		t.Fatalf("a failing suspension: %v, %d sessions", err, e.srv.Sessions(e.sam))
	}
	e.ensure(t, "t5", accessv1alpha1.GrantQuarantined)
	if e.srv.UserStatus(login) != oktaserver.StatusSuspended || e.sessionCalls() != before+2 {
		t.Fatal("the retry must suspend the user and end its sessions again")
	}
}

func TestAFailureHalfwayOfAStableStateEndsNoSessions(t *testing.T) {
	// Drift repair of a quarantine already applied in full (From
	// Quarantined) that fails halfway is not a change: no session call.
	e := newEnv(t, "", true, oktaserver.Options{})
	e.ensure(t, "t1", accessv1alpha1.GrantQuarantined)
	e.srv.SetUserStatus(login, oktaserver.StatusActive)
	e.srv.FailNext(oktaserver.RouteSuspend, 1, 503)
	calls := e.sessionCalls()
	if _, err := e.try("t2", accessv1alpha1.GrantQuarantined); !errors.Is(err, connectors.ErrUnreachable) || e.sessionCalls() != calls {
		t.Fatalf("a failing drift repair: %v, %d session calls, want %d", err, e.sessionCalls(), calls)
	}
	if ch := e.ensure(t, "t2", accessv1alpha1.GrantQuarantined); ch.Detail != "suspended the user" || e.sessionCalls() != calls {
		t.Fatalf("the drift repair: %+v, %d session calls", ch, e.sessionCalls())
	}
}

func TestActiveNeverEndsSessions(t *testing.T) {
	for _, from := range []accessv1alpha1.GrantState{"", accessv1alpha1.GrantActive, accessv1alpha1.GrantQuarantined, accessv1alpha1.GrantRevoked} {
		t.Run(string(from), func(t *testing.T) {
			e := newEnv(t, "", true, oktaserver.Options{})
			e.target.From = from
			e.ensure(t, "t1", accessv1alpha1.GrantActive)
			if e.sessionCalls() != 0 {
				t.Fatalf("Active from %q ended the sessions", from)
			}
		})
	}
}

func TestExpiredAccessTokenIsRenewedOnce(t *testing.T) {
	clk := &connectorstest.OffsetClock{}
	e := newEnv(t, "", true, oktaserver.Options{AccessTokenTTL: 2 * time.Minute, Now: clk.Now})
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	clk.Advance(3 * time.Minute) // the org sees the cached token expired
	e.ensure(t, "t2", accessv1alpha1.GrantRevoked)
	if n := e.srv.Requests(oktaserver.RouteToken); n != 2 || e.member(e.payments, login) {
		t.Fatalf("%d token requests, want 2", n)
	}
	// A 401 that persists is tried once more, not forever.
	e.srv.FailNext(oktaserver.RouteGetUser, 2, 401)
	if _, err := e.try("t3", accessv1alpha1.GrantActive); !errors.Is(err, connectors.ErrCredentials) {
		t.Fatalf("persistent 401: %v", err)
	}
	if n := e.srv.Requests(oktaserver.RouteToken); n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}
}
