package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/graphserver"
)

const (
	clientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
	secret   = "Qs8~wrong+horse/battery=staple"
	samUPN   = "sam@contoso.onmicrosoft.com"
	graphAud = "https://graph.microsoft.com/.default"
)

// leastPrivilege are the application permissions the docs ask for.
var leastPrivilege = []string{"GroupMember.ReadWrite.All", "User.Read.All", "User.EnableDisableAccount.All", "User.RevokeSessions.All"}

// env is a fake tenant with sam, a group for the grant and a quarantine
// group, and a connector with the app's credentials.
type env struct {
	t                      *testing.T
	srv                    *graphserver.Server
	clock                  *connectorstest.OffsetClock
	c                      *Connector
	target                 connectors.Target
	sam, group, quarantine string
	calls                  int
	certPEM, keyPEM, caPEM []byte
	tokenPath, revokePath  string
	samPath                string
}

type envOpts struct {
	mode  accessv1alpha1.IdentityQuarantineMode
	cert  bool
	roles []string
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	clk := &connectorstest.OffsetClock{}
	srv := graphserver.New(graphserver.Options{Now: clk.Now, RetryAfter: 1})
	t.Cleanup(srv.Close)
	if o.roles == nil {
		o.roles = leastPrivilege
	}
	e := &env{t: t, srv: srv, clock: clk, c: &Connector{scope: graphAud}, caPEM: []byte(srv.CertificatePEM())}
	creds := map[string][]byte{KeyClientID: []byte(clientID)}
	if o.cert {
		var cert *x509.Certificate
		cert, e.certPEM, e.keyPEM = newAppCert(t)
		srv.RegisterApp(clientID, "", cert, o.roles)
		creds[KeyCertificate], creds[KeyPrivateKey] = e.certPEM, e.keyPEM
	} else {
		srv.RegisterApp(clientID, secret, nil, o.roles)
		creds[KeyClientSecret] = []byte(secret)
	}
	e.sam = srv.AddUser(samUPN)
	e.group = srv.AddGroup("payments-engineers")
	e.quarantine = srv.AddGroup("quarantine")
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "entra", UID: "system-uid"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeEntra,
			AllowedEntitlements: []string{"payments-engineers", "contractors-*"},
			Entra: &accessv1alpha1.EntraSettings{TenantID: srv.TenantID(), AuthorityHost: srv.URL(), GraphEndpoint: srv.URL(),
				QuarantineMode: o.mode, QuarantineGroup: "quarantine", CABundle: string(e.caPEM)}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g", UID: "grant-uid"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: "payments-engineers"}}}
	e.target = connectors.Target{Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{},
		Account: samUPN, Credentials: creds}
	e.tokenPath = "/" + srv.TenantID() + "/oauth2/v2.0/token"
	e.revokePath = "/v1.0/users/" + e.sam + "/revokeSignInSessions"
	e.samPath = "/v1.0/users/" + samUPN
	return e
}

// apply runs Ensure as the controller does: From is the state last applied
// in full, and moves on to state only after a success, so that the retry of
// a change that failed halfway starts From the earlier state again. A
// failure before any success leaves Pending recorded, as the controller's
// status does. Every call carries a new transition id, which the connector
// must not depend on.
func (e *env) apply(state accessv1alpha1.GrantState, siblings ...accessv1alpha1.GrantState) (connectors.Change, error) {
	e.t.Helper()
	e.calls++
	e.target.Siblings = siblings
	e.target.Transition = fmt.Sprintf("reconcile-%d", e.calls)
	ch, err := e.c.Ensure(context.Background(), e.target, state)
	switch {
	case err == nil:
		e.target.From = state
	case e.target.From == "":
		e.target.From = accessv1alpha1.GrantPending
	}
	return ch, err
}

// revokes counts the revokeSignInSessions requests for sam.
func (e *env) revokes() int { return e.srv.Requests("POST", e.revokePath) }

func (e *env) mustApply(state accessv1alpha1.GrantState, siblings ...accessv1alpha1.GrantState) connectors.Change {
	e.t.Helper()
	ch, err := e.apply(state, siblings...)
	if err != nil {
		e.t.Fatalf("Ensure(%s): %v", state, err)
	}
	return ch
}

// writes counts the writing requests that concern sam.
func (e *env) writes() int {
	n := e.srv.Requests("PATCH", "/v1.0/users/"+e.sam) + e.srv.Requests("POST", e.revokePath)
	for _, g := range []string{e.group, e.quarantine} {
		n += e.srv.Requests("POST", "/v1.0/groups/"+g+"/members/$ref") +
			e.srv.Requests("DELETE", "/v1.0/groups/"+g+"/members/"+e.sam+"/$ref")
	}
	return n
}

func (e *env) member(groupID string) bool {
	for _, m := range e.srv.Members(groupID) {
		if m == samUPN {
			return true
		}
	}
	return false
}

// newAppCert makes a self-signed certificate credential: the certificate,
// its PEM and its key's PEM (PKCS #8).
func newAppCert(t *testing.T) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "portcullis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}
