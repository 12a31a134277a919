package okta

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

func (e *env) check(creds map[string][]byte) error {
	e.t.Helper()
	err := e.c.Check(context.Background(), e.target.System, creds)
	e.noSecrets(err)
	return err
}

func TestCheck(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup, true, oktaserver.Options{})
	if err := e.check(e.target.Credentials); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := e.check(map[string][]byte{KeyAPIToken: []byte(apiToken)}); err != nil {
		t.Fatalf("Check with the API token: %v", err)
	}
	if err := e.check(map[string][]byte{KeyAPIToken: []byte("wrong-token-s3cret")}); !errors.Is(err, connectors.ErrCredentials) ||
		strings.Contains(err.Error(), "wrong-token-s3cret") {
		t.Fatalf("a wrong API token: %v", err)
	}
}

func TestCheckTellsBadCredentialsApart(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string][]byte{
		"a key the app does not have": pkcs8PEM(t, other),
		"not PEM":                     []byte("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ"),
		"a certificate":               []byte(e.target.System.Spec.Okta.CABundle),
	} {
		creds := map[string][]byte{KeyClientID: []byte(clientID), KeyPrivateKey: key}
		err := e.check(creds)
		if !errors.Is(err, connectors.ErrCredentials) {
			t.Errorf("%s: %v, want ErrCredentials", name, err)
		}
	}
	creds := map[string][]byte{KeyClientID: []byte("0oa-unknown"), KeyPrivateKey: e.keyPEM}
	if err := e.check(creds); !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("an unknown client: %v", err)
	}
}

func TestCheckNamesAMissingScope(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.srv.RegisterClient(clientID, &testKey().PublicKey, oktaserver.ScopeGroupsManage)
	err := e.check(e.target.Credentials)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "missing scope okta.users.manage") {
		t.Fatalf("a missing scope: %v", err)
	}
	// A 403 on an API call says whether a scope or a permission is missing.
	e.srv.RegisterClient(clientID, &testKey().PublicKey, oktaserver.ScopeUsersManage, oktaserver.ScopeGroupsManage)
	e.srv.FailNext(oktaserver.RouteListGroups, 1, 403)
	if err := e.check(e.target.Credentials); !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "missing permission") {
		t.Fatalf("a 403: %v", err)
	}
}

func TestCheckReportsMissingGroups(t *testing.T) {
	e := newEnv(t, accessv1alpha1.IdentityQuarantineGroup, true, oktaserver.Options{})
	e.target.System.Spec.AllowedEntitlements = []string{"payments-engineers", "gone-group", "team-*"}
	e.target.System.Spec.Okta.QuarantineGroup = "gone-quarantine"
	err := e.check(e.target.Credentials)
	if err == nil || !strings.Contains(err.Error(), `"gone-group", "gone-quarantine"`) || strings.Contains(err.Error(), "team-") ||
		strings.Contains(err.Error(), `"payments-engineers"`) {
		t.Fatalf("missing groups: %v", err)
	}
}

func TestCheckUnreachableAndTLS(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.srv.SetDown(true)
	if err := e.check(e.target.Credentials); !errors.Is(err, connectors.ErrUnreachable) || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503: %v", err)
	}
	e.srv.SetDownMode(oktaserver.DownHangup)
	if err := e.check(e.target.Credentials); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("a hang-up: %v", err)
	}
	e.srv.SetDown(false)

	wrongCA := e.target.System.DeepCopy()
	wrongCA.Spec.Okta.CABundle = string(connectorstest.NewCA(t).PEM)
	if err := e.c.Check(context.Background(), wrongCA, e.target.Credentials); !errors.Is(err, connectors.ErrTLS) {
		t.Errorf("a CA that did not sign the org's certificate: %v", err)
	}
	closed := e.target.System.DeepCopy()
	closed.Spec.Okta.OrgURL = "https://127.0.0.1:1"
	if err := e.c.Check(context.Background(), closed, e.target.Credentials); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("a closed port: %v", err)
	}
}

func TestRateLimitResetIsHonoured(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{RateLimitWindow: 200 * time.Millisecond})
	e.srv.FailNext(oktaserver.RouteGetUser, 1, 429)
	start := time.Now()
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	if !e.member(e.payments, login) || e.srv.Requests(oktaserver.RouteGetUser) != 2 {
		t.Fatal("the call after the 429 was not retried")
	}
	if time.Since(start) < minRateLimitWait {
		t.Fatal("the retry did not wait for the reset")
	}
}

func TestSpentBudgetIsWaitedFor(t *testing.T) {
	e := newEnv(t, "", false, oktaserver.Options{RateLimitWindow: 300 * time.Millisecond,
		RateLimits: map[string]int{oktaserver.RouteGetUser: 1}})
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	// Two calls within a budget of one per window, and no 429: the second
	// waited for the reset.
	if n := e.srv.Requests(oktaserver.RouteGetUser); n != 2 {
		t.Fatalf("%d requests to get the user, want 2 (no 429)", n)
	}
}

func TestRateLimitResetTooLateFails(t *testing.T) {
	e := newEnv(t, "", false, oktaserver.Options{})
	e.c.MaxRateLimitWait = 20 * time.Millisecond
	e.srv.FailNext(oktaserver.RouteGetUser, 1, 429)
	start := time.Now()
	if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a reset a minute away: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the connector waited past its bound")
	}
	// The budget is known to be spent: the next call fails at once.
	if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "rate limit") ||
		e.srv.Requests(oktaserver.RouteGetUser) != 1 {
		t.Fatalf("a spent budget: %v", err)
	}
	// A wait longer than the call's deadline fails at once, saying so.
	c := &Connector{MaxRateLimitWait: 2 * time.Minute}
	e.srv.FailNext(oktaserver.RouteGetUser, 1, 429)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Ensure(ctx, e.target, accessv1alpha1.GrantActive); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled wait: %v", err)
	}
}

func TestMissingCredentials(t *testing.T) {
	c := &Connector{}
	for _, tc := range []struct {
		data map[string][]byte
		want string
	}{
		{map[string][]byte{KeyAPIToken: []byte("x")}, ""},
		{map[string][]byte{KeyClientID: []byte("x"), KeyPrivateKey: []byte("k")}, ""},
		{map[string][]byte{KeyClientID: []byte("x")}, "privateKey"},
		{map[string][]byte{KeyPrivateKey: []byte("k")}, "clientID"},
		{map[string][]byte{}, "apiToken, or clientID and privateKey"},
	} {
		if got := strings.Join(c.MissingCredentials(nil, tc.data), ","); got != tc.want {
			t.Errorf("%v: %q, want %q", keys(tc.data), got, tc.want)
		}
	}
}

func keys(m map[string][]byte) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return fmt.Sprint(out)
}
