package google

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/googleserver"
)

func TestCheck(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup)
	if err := e.check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, g := range []string{payments, quarantine} {
		if n := e.srv.Requests("GET", dirBase+"groups/"+g+"/members"); n != 1 {
			t.Fatalf("%d lookups of %s", n, g)
		}
	}
	if e.srv.Requests("GET", dirBase+"users/"+adminEmail) != 1 {
		t.Fatal("Check did not read the admin")
	}
}

func TestCheckReportsMissingGroups(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup)
	e.target.System.Spec.AllowedEntitlements = []string{payments, "gone@example.com", "team-*@example.com"}
	e.target.System.Spec.Google.QuarantineGroup = "gone-quarantine@example.com"
	err := e.check()
	if err == nil || !strings.Contains(err.Error(), `no group "gone@example.com", "gone-quarantine@example.com"`) ||
		strings.Contains(err.Error(), "team-") || strings.Contains(err.Error(), `"`+payments+`"`) {
		t.Fatalf("missing groups: %v", err)
	}
}

func TestScopeNotDelegatedNamesTheScopes(t *testing.T) {
	e := newEnv(t, "")
	e.srv.RegisterServiceAccount(saEmail, keyID, &testKeys()[0].PublicKey,
		[]string{googleserver.ScopeUser, googleserver.ScopeGroupMember})
	for _, err := range []error{e.check(), func() error { _, err := e.apply(active); return err }()} {
		if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "Domain-wide delegation") ||
			!strings.Contains(err.Error(), saClientID) {
			t.Fatalf("scope not delegated: %v", err)
		}
		for _, s := range Scopes {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("the error does not name %s: %v", s, err)
			}
		}
	}
	if e.srv.Requests("GET", dirBase+"users/"+sam) != 0 {
		t.Fatal("the API was called without a token")
	}
}

func TestCheckTellsBadCredentialsApart(t *testing.T) {
	e := newEnv(t, "")
	for name, key := range map[string][]byte{
		"another key":        keyFile(t, testKeys()[1], DefaultTokenURL),
		"not JSON":           []byte("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\n-----END PRIVATE KEY-----"),
		"an OAuth client":    []byte(`{"installed":{"client_id":"x","client_secret":"s3cret"}}`),
		"a key that is junk": []byte(`{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`),
		"nothing":            nil,
	} {
		e.target.Credentials = map[string][]byte{KeyServiceAccountKey: key}
		err := e.check()
		if !errors.Is(err, connectors.ErrCredentials) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "AAAA") {
			t.Errorf("%s: %v, want ErrCredentials", name, err)
		}
	}
}

func TestCheckAdminProblems(t *testing.T) {
	e := newEnv(t, "")
	e.target.System.Spec.Google.AdminEmail = "nobody@example.com"
	if err := e.check(); !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), `adminEmail "nobody@example.com" is no user`) {
		t.Fatalf("an admin that does not exist: %v", err)
	}
	// A user who is no admin earns a token that the API refuses.
	e.target.System.Spec.Google.AdminEmail = alice
	err := e.check()
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "403 forbidden") || !strings.Contains(err.Error(), "admin role") {
		t.Fatalf("an admin that is no admin: %v", err)
	}
}

func TestCheckUnreachableAndTLS(t *testing.T) {
	e := newEnv(t, "")
	e.srv.SetDown(true)
	if err := e.check(); !errors.Is(err, connectors.ErrUnreachable) || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503: %v", err)
	}
	if _, err := e.apply(active); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("Ensure with the server down: %v", err)
	}
	e.srv.SetDown(false)
	if err := e.check(); err != nil {
		t.Fatal(err)
	}
	// With a token cached, the API's own 503 is told apart too.
	e.srv.InjectFault(dirBase, 1, 503)
	if err := e.check(); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("the API's 503: %v", err)
	}
	// A 500 backendError is an error, not retried.
	e.srv.InjectFault(dirBase, 1, 500)
	if err := e.check(); err == nil || errors.Is(err, connectors.ErrUnreachable) || !strings.Contains(err.Error(), "backendError") {
		t.Errorf("the API's 500: %v", err)
	}

	wrongCA := e.target.System.DeepCopy()
	wrongCA.UID = "other"
	wrongCA.Spec.Google.CABundle = string(connectorstest.NewCA(t).PEM)
	if err := e.c.Check(context.Background(), wrongCA, e.target.Credentials); !errors.Is(err, connectors.ErrTLS) ||
		!strings.Contains(err.Error(), "caBundle") {
		t.Errorf("a CA that did not sign the server's certificate: %v", err)
	}
	closed := e.target.System.DeepCopy()
	closed.UID = "closed"
	closed.Spec.Google.TokenURL = "https://127.0.0.1:1/token"
	if err := e.c.Check(context.Background(), closed, e.target.Credentials); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("a closed port: %v", err)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	for _, status := range []int{429, 403} {
		e := newEnv(t, "")
		e.srv.InjectFault(dirBase+"users/", 2, status)
		e.mustApply(quarantined)
		if !e.srv.Suspended(sam) || e.srv.Requests("GET", dirBase+"users/"+sam) != 3 {
			t.Fatalf("%d: the throttled call was not retried", status)
		}
		// A limit that persists fails after three retries.
		e.srv.InjectFault(dirBase+"users/", 4, status)
		_, err := e.apply(active)
		if err == nil || !strings.Contains(err.Error(), "throttled") || e.srv.Requests("GET", dirBase+"users/"+sam) != 7 {
			t.Fatalf("%d: persistent throttling: %v", status, err)
		}
	}
	// The per-user limit of the fake, as Google words it: a 403 that is
	// no refusal of the credentials.
	e := newEnv(t, "", func(o *googleserver.Options) { o.UserRateLimit = 4 })
	e.mustApply(active) // four calls
	if _, err := e.apply(active); err == nil || errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "userRateLimitExceeded") {
		t.Fatalf("the per-user limit: %v", err)
	}
	e.clock.Advance(time.Minute)
	if ch := e.mustApply(active); ch.Changed {
		t.Fatal("the membership was lost")
	}
	// A context that ends first stops the backoff.
	e.c.retryBase = time.Minute
	e.srv.InjectFault(dirBase+"users/", 1, 429)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := e.c.Ensure(ctx, e.target, active); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("a backoff past the deadline: %v", err)
	}
}

func TestExpiredTokenIsRenewedOnce(t *testing.T) {
	e := newEnv(t, "", func(o *googleserver.Options) { o.TokenLifetime = 10 * time.Minute })
	e.mustApply(active)
	e.clock.Advance(11 * time.Minute) // the fake sees the cached token expired
	e.mustApply(revoked)
	if e.tokens() != 2 || e.member(payments) {
		t.Fatalf("%d token requests, want 2", e.tokens())
	}
}

func TestMissingCredentials(t *testing.T) {
	c := &Connector{}
	if got := c.MissingCredentials(nil, map[string][]byte{}); len(got) != 1 || got[0] != KeyServiceAccountKey {
		t.Fatalf("missing: %v", got)
	}
	if got := c.MissingCredentials(nil, map[string][]byte{KeyServiceAccountKey: []byte("{}")}); len(got) != 0 {
		t.Fatalf("missing: %v", got)
	}
}
