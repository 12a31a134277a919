package google

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/googleserver"
)

const (
	saEmail    = "portcullis@acme-project.iam.gserviceaccount.com"
	saClientID = "118000000000000000001"
	keyID      = "0123456789abcdef0123456789abcdef01234567"
	adminEmail = "admin@example.com"
	sam        = "sam@example.com"
	alice      = "alice@example.com"
	payments   = "payments-engineers@example.com"
	quarantine = "quarantine@example.com"
	dirBase    = "/admin/directory/v1/"

	active      = accessv1alpha1.GrantActive
	quarantined = accessv1alpha1.GrantQuarantined
	revoked     = accessv1alpha1.GrantRevoked
	expired     = accessv1alpha1.GrantExpired
	removed     = accessv1alpha1.GrantState("")
)

// testKeys are two RSA keys: the service account's, and another.
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// keyFile is a service account's JSON key file, as Google Cloud gives it.
func keyFile(t *testing.T, key *rsa.PrivateKey, tokenURI string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "acme-project", "private_key_id": keyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": saEmail, "client_id": saClientID,
		"auth_uri":  "https://accounts.google.com/o/oauth2/auth",
		"token_uri": tokenURI, "universe_domain": "googleapis.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// env is a fake Workspace account with an admin, sam (with an open
// session), alice (a bystander), a group for the grant and a quarantine
// group, and a connector with the service account's key.
type env struct {
	t      *testing.T
	srv    *googleserver.Server
	clock  *connectorstest.OffsetClock
	c      *Connector
	target connectors.Target
	samID  string
	caPEM  []byte
	calls  int
}

func newEnv(t *testing.T, mode accessv1alpha1.IdentityQuarantineMode, opts ...func(*googleserver.Options)) *env {
	t.Helper()
	clk := &connectorstest.OffsetClock{}
	o := googleserver.Options{Now: clk.Now}
	for _, f := range opts {
		f(&o)
	}
	srv := googleserver.New(o)
	t.Cleanup(srv.Close)
	srv.RegisterServiceAccount(saEmail, keyID, &testKeys()[0].PublicKey, Scopes)
	srv.AddAdmin(adminEmail)
	e := &env{t: t, srv: srv, clock: clk, c: &Connector{retryBase: 5 * time.Millisecond}, caPEM: []byte(srv.CertificatePEM())}
	e.samID = srv.AddUser(sam)
	srv.AddUser(alice)
	srv.AddSession(sam)
	srv.AddSession(alice)
	srv.AddGroup(payments)
	srv.AddGroup(quarantine)
	srv.AddMember(payments, alice, "")
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "google-workspace", UID: "system-uid"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeGoogle,
			AllowedEntitlements: []string{payments, "contractors-*"},
			Google: &accessv1alpha1.GoogleSettings{AdminEmail: adminEmail, QuarantineMode: mode, QuarantineGroup: quarantine,
				Endpoint: srv.URL() + "/", TokenURL: srv.TokenURL(), CABundle: string(e.caPEM)}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "contractors", Name: "alex-google-payments", UID: "grant-uid"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: payments}}}
	e.target = connectors.Target{Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{}, Account: sam,
		Credentials: map[string][]byte{KeyServiceAccountKey: keyFile(t, testKeys()[0], DefaultTokenURL)}}
	return e
}

// apply runs Ensure as the controller does: From is the state last applied
// in full, and moves on to state only after a success, so that the retry of
// a change that failed halfway starts From the earlier state again.
func (e *env) apply(state accessv1alpha1.GrantState, siblings ...accessv1alpha1.GrantState) (connectors.Change, error) {
	e.t.Helper()
	e.calls++
	e.target.Siblings = siblings
	e.target.Transition = fmt.Sprintf("reconcile-%d", e.calls)
	ch, err := e.c.Ensure(context.Background(), e.target, state)
	e.noSecrets(err)
	switch {
	case err == nil:
		e.target.From = state
	case e.target.From == "":
		e.target.From = accessv1alpha1.GrantPending
	}
	return ch, err
}

func (e *env) mustApply(state accessv1alpha1.GrantState, siblings ...accessv1alpha1.GrantState) connectors.Change {
	e.t.Helper()
	ch, err := e.apply(state, siblings...)
	if err != nil {
		e.t.Fatalf("Ensure(%q): %v", state, err)
	}
	return ch
}

func (e *env) check() error {
	e.t.Helper()
	err := e.c.Check(context.Background(), e.target.System, e.target.Credentials)
	e.noSecrets(err)
	return err
}

// signOuts counts the users.signOut requests for sam.
func (e *env) signOuts() int { return e.srv.Requests("POST", dirBase+"users/"+e.samID+"/signOut") }

// writes counts the writing requests that concern sam.
func (e *env) writes() int {
	n := e.srv.Requests("PATCH", dirBase+"users/"+e.samID) + e.signOuts()
	for _, g := range []string{payments, quarantine} {
		n += e.srv.Requests("POST", dirBase+"groups/"+g+"/members") +
			e.srv.Requests("DELETE", dirBase+"groups/"+g+"/members/"+e.samID)
	}
	return n
}

func (e *env) tokens() int { return e.srv.Requests("POST", "/token") }

func (e *env) member(group string) bool { return slices.Contains(e.srv.Members(group), sam) }

// bystanderUntouched fails when alice or the admin was changed.
func (e *env) bystanderUntouched() {
	e.t.Helper()
	if e.srv.Suspended(alice) || e.srv.Suspended(adminEmail) || e.srv.Sessions(alice) != 1 ||
		!slices.Contains(e.srv.Members(payments), alice) {
		e.t.Fatal("a bystander was changed")
	}
}

// noSecrets fails when err shows the private key or any part of it.
func (e *env) noSecrets(err error) {
	e.t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	var key struct {
		PrivateKey string `json:"private_key"`
	}
	_ = json.Unmarshal(e.target.Credentials[KeyServiceAccountKey], &key)
	for _, line := range strings.Split(key.PrivateKey, "\n") {
		if len(line) > 16 && !strings.Contains(line, "PRIVATE KEY") && strings.Contains(msg, line) {
			e.t.Fatalf("the error shows the private key: %v", err)
		}
	}
	for _, s := range []string{"PRIVATE KEY", "ya29.", "eyJ"} {
		if strings.Contains(msg, s) {
			e.t.Fatalf("the error shows %q: %v", s, err)
		}
	}
}
