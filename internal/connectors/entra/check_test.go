package entra

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
)

func (e *env) check() error {
	return e.c.Check(context.Background(), e.target.System, e.target.Credentials)
}

func TestCheckPassesWithBothCredentialKinds(t *testing.T) {
	for name, cert := range map[string]bool{"secret": false, "certificate": true} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{cert: cert})
			if err := e.check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if e.srv.Requests("GET", "/v1.0/groups") != 3 { // the probe, payments-engineers, quarantine
				t.Fatalf("%d group requests", e.srv.Requests("GET", "/v1.0/groups"))
			}
		})
	}
}

func TestCheckRefusedCredentials(t *testing.T) {
	e := newEnv(t, envOpts{})
	bad := map[string][]byte{KeyClientID: []byte(clientID), KeyClientSecret: []byte("not-the-s3cret-value")}
	err := e.c.Check(context.Background(), e.target.System, bad)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-s3cret-value") || strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the secret: %v", err)
	}

	unknown := map[string][]byte{KeyClientID: []byte("0f0f0f0f-1111-2222-3333-444444444444"), KeyClientSecret: []byte(secret)}
	if err := e.c.Check(context.Background(), e.target.System, unknown); !errors.Is(err, connectors.ErrCredentials) ||
		!strings.Contains(err.Error(), "AADSTS700016") {
		t.Fatalf("unknown app: %v", err)
	}

	// A certificate that is not registered on the app.
	_, certPEM, keyPEM := newAppCert(t)
	other := map[string][]byte{KeyClientID: []byte(clientID), KeyCertificate: certPEM, KeyPrivateKey: keyPEM}
	err = e.c.Check(context.Background(), e.target.System, other)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("unregistered certificate: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "eyJ") {
		t.Fatalf("the error shows the key or the assertion: %v", err)
	}
}

func TestCheckMissingPermission(t *testing.T) {
	e := newEnv(t, envOpts{roles: []string{"User.Read.All"}})
	err := e.check()
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "lacks the Microsoft Graph application permission") ||
		!strings.Contains(err.Error(), "GroupMember.Read") {
		t.Fatalf("no group permission: %v", err)
	}

	// Without User.EnableDisableAccount.All, a quarantine in Suspend mode
	// says which permission (and role, for admins) it needs.
	e = newEnv(t, envOpts{roles: []string{"GroupMember.ReadWrite.All", "User.Read.All", "User.RevokeSessions.All"}})
	_, err = e.apply(quarantined)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "User.EnableDisableAccount.All") ||
		!strings.Contains(err.Error(), "Privileged Authentication Administrator") {
		t.Fatalf("no enable/disable permission: %v", err)
	}
}

func TestCheckUnreachableAndTLS(t *testing.T) {
	e := newEnv(t, envOpts{})
	wrongCA := e.target.System.DeepCopy()
	wrongCA.Spec.Entra.CABundle = string(connectorstest.NewCA(t).PEM)
	if err := e.c.Check(context.Background(), wrongCA, e.target.Credentials); !errors.Is(err, connectors.ErrTLS) {
		t.Fatalf("wrong CA: %v", err)
	}

	e.srv.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.c.Check(ctx, e.target.System, e.target.Credentials); !errors.Is(err, connectors.ErrUnreachable) {
		t.Fatalf("outage: %v", err)
	}
	if time.Since(start) > 400*time.Millisecond {
		t.Fatal("waited for a Retry-After that outlasts the deadline")
	}
	e.srv.SetDown(false)

	e.srv.Close()
	if err := e.check(); !errors.Is(err, connectors.ErrUnreachable) {
		t.Fatalf("closed server: %v", err)
	}
}

func TestCheckReportsMissingGroups(t *testing.T) {
	e := newEnv(t, envOpts{mode: accessv1alpha1.IdentityQuarantineGroup})
	e.srv.AddGroup("twice")
	e.srv.AddGroup("Twice")
	e.target.System.Spec.AllowedEntitlements = []string{"payments-engineers", "app-*", "auditors", "twice"}
	e.target.System.Spec.Entra.QuarantineGroup = "no-quarantine"
	err := e.check()
	if err == nil || errors.Is(err, connectors.ErrCredentials) {
		t.Fatalf("Check: %v", err)
	}
	for _, want := range []string{`"auditors"`, `"no-quarantine"`, `displayName "twice": refusing to pick one`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "payments-engineers") || strings.Contains(err.Error(), "app-") {
		t.Errorf("%v names a group that exists, or a pattern", err)
	}
}

func TestEndpointsMustBeHTTPS(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	e := newEnv(t, envOpts{})
	for name, tc := range map[string]struct {
		authority, graph string
		want             error
	}{
		"http authority": {"http://" + wire.Addr(), "https://" + wire.Addr(), connectors.ErrInsecure},
		"http graph":     {"https://" + wire.Addr(), "http://" + wire.Addr(), connectors.ErrInsecure},
		"user info":      {"https://admin:s3cret@" + wire.Addr(), "https://" + wire.Addr(), connectors.ErrCredentialsInURL},
		"a path":         {"https://" + wire.Addr() + "/tenant", "https://" + wire.Addr(), nil},
		"a query":        {"https://" + wire.Addr() + "?token=s3cret", "https://" + wire.Addr(), nil},
	} {
		t.Run(name, func(t *testing.T) {
			system := e.target.System.DeepCopy()
			system.Spec.Entra.AuthorityHost, system.Spec.Entra.GraphEndpoint = tc.authority, tc.graph
			err := e.c.Check(context.Background(), system, e.target.Credentials)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows a secret: %v", err)
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to an endpoint it refused")
			}
		})
	}
}

func TestMissingCredentials(t *testing.T) {
	c := &Connector{}
	for name, tc := range map[string]struct {
		data map[string][]byte
		want string
	}{
		"secret":           {map[string][]byte{KeyClientID: []byte("x"), KeyClientSecret: []byte("y")}, ""},
		"certificate":      {map[string][]byte{KeyClientID: []byte("x"), KeyCertificate: []byte("c"), KeyPrivateKey: []byte("k")}, ""},
		"nothing":          {map[string][]byte{}, "clientID,clientSecret (or certificate and privateKey, preferred)"},
		"no key":           {map[string][]byte{KeyClientID: []byte("x"), KeyCertificate: []byte("c")}, "privateKey"},
		"key, secret only": {map[string][]byte{KeyPrivateKey: []byte("k"), KeyClientSecret: []byte("y")}, "clientID,certificate"},
	} {
		if got := strings.Join(c.MissingCredentials(nil, tc.data), ","); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
