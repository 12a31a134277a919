package entra

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
)

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.srv.FailNext(e.samPath, 429, 1)
	e.srv.FailNext(e.samPath, 503, 1)
	e.srv.FailNext(e.tokenPath, 503, 1)
	start := time.Now()
	e.mustApply(active)
	if elapsed := time.Since(start); elapsed < 3*time.Second {
		t.Fatalf("retried after %v, before the three Retry-After: 1 had passed", elapsed)
	}
	if n := e.srv.Requests("GET", e.samPath); n != 3 {
		t.Fatalf("%d user reads, want 3", n)
	}
	if !e.member(e.group) {
		t.Fatal("not applied after the throttling")
	}

	// A per-app budget, as Graph's service limits.
	e.srv.SetThrottleBudget(clientID, 2, time.Second)
	e.mustApply(revoked)
	if e.member(e.group) {
		t.Fatal("not applied under a throttle budget")
	}
}

func TestThrottlingIsBounded(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	e.srv.FailNext(e.samPath, 429, 1)
	start := time.Now()
	if _, err := e.c.Ensure(ctx, e.target, active); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a Retry-After beyond the deadline: %v", err)
	}
	if time.Since(start) > 400*time.Millisecond {
		t.Fatal("waited for a Retry-After that outlasts the deadline")
	}

	e.srv.FailNext(e.samPath, 429, maxRetries+1)
	if _, err := e.apply(active); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("throttled past the retries: %v", err)
	}
	reads := e.srv.Requests("GET", e.samPath)
	e.srv.FailNext(e.samPath, 502, 1)
	if _, err := e.apply(active); err == nil || !strings.Contains(err.Error(), "502") ||
		errors.Is(err, connectors.ErrUnreachable) {
		t.Fatalf("a 502: %v", err)
	}
	if e.srv.Requests("GET", e.samPath) != reads+1 {
		t.Fatal("a 502 was retried")
	}
}

func TestExpiredTokenIsRefreshedOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mustApply(active)
	e.mustApply(active)
	if n := e.srv.Requests("POST", e.tokenPath); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	// Graph's clock passes the token's expiry while the connector still
	// holds it.
	e.clock.Advance(2 * time.Hour)
	e.mustApply(revoked)
	if e.member(e.group) {
		t.Fatal("not applied with a refreshed token")
	}
	if n := e.srv.Requests("POST", e.tokenPath); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestAssertionNamesTheCertificate(t *testing.T) {
	_, certPEM, keyPEM := newAppCert(t)
	cr, err := parseCredentials(map[string][]byte{KeyClientID: []byte(clientID), KeyCertificate: certPEM, KeyPrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	a, err := cr.assertion("https://login.example/t/oauth2/v2.0/token", now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %s", a)
	}
	for _, want := range []string{`"alg":"RS256"`, `"x5t":"` + cr.x5t + `"`, `"x5t#S256":"` + cr.x5tS256 + `"`} {
		if !strings.Contains(decode(t, parts[0]), want) {
			t.Errorf("header %s lacks %s", decode(t, parts[0]), want)
		}
	}
	for _, want := range []string{`"aud":"https://login.example/t/oauth2/v2.0/token"`, `"iss":"` + clientID + `"`,
		`"sub":"` + clientID + `"`, `"nbf":1800000000`, `"exp":1800000300`, `"jti":"`} {
		if !strings.Contains(decode(t, parts[1]), want) {
			t.Errorf("claims %s lack %s", decode(t, parts[1]), want)
		}
	}
	if len(cr.x5t) != 27 || len(cr.x5tS256) != 43 || strings.ContainsAny(cr.x5t+cr.x5tS256, "+/=") {
		t.Errorf("thumbprints are not unpadded base64url of SHA-1 and SHA-256: %s %s", cr.x5t, cr.x5tS256)
	}

	// A key that is not the certificate's.
	_, _, otherKey := newAppCert(t)
	if _, err := parseCredentials(map[string][]byte{KeyClientID: []byte(clientID), KeyCertificate: certPEM, KeyPrivateKey: otherKey}); err == nil ||
		!strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("mismatched key: %v", err)
	}
}

func decode(t *testing.T, part string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
