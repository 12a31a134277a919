package googleserver

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

const (
	saEmail  = "connector@project.iam.gserviceaccount.com"
	keyID    = "key-1"
	adminSub = "admin@example.com"
)

var allScopes = []string{
	ScopeUser, ScopeUserReadonly, ScopeUserSecurity, ScopeGroup, ScopeGroupReadonly,
	ScopeGroupMember, ScopeGroupMemberReadonly, ScopeReportsAudit,
}

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

type harness struct {
	*Server
	t     *testing.T
	clock *clocktesting.FakeClock
	key   *rsa.PrivateKey
}

// setup starts a fake with one service account delegated every scope
// except those in withheld, and one super admin.
func setup(t *testing.T, opts Options, withheld ...string) *harness {
	t.Helper()
	c := clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	opts.Now = c.Now
	s := New(opts)
	t.Cleanup(s.Close)
	var delegated []string
	for _, sc := range allScopes {
		if !slices.Contains(withheld, sc) {
			delegated = append(delegated, sc)
		}
	}
	h := &harness{Server: s, t: t, clock: c, key: testKeys()[0]}
	s.RegisterServiceAccount(saEmail, keyID, &h.key.PublicKey, delegated)
	s.AddAdmin(adminSub)
	return h
}

func (h *harness) assertion(mod func(*Assertion)) string {
	h.t.Helper()
	now := h.clock.Now()
	a := Assertion{
		Issuer: saEmail, Subject: adminSub, Scopes: []string{ScopeUser},
		Audience: h.TokenURL(), IssuedAt: now, Expiry: now.Add(time.Hour),
	}
	if mod != nil {
		mod(&a)
	}
	jwt, err := SignAssertion(h.key, keyID, a)
	if err != nil {
		h.t.Fatal(err)
	}
	return jwt
}

// postToken posts a JWT bearer grant and returns the status and JSON body.
func (h *harness) postToken(assertion string) (int, map[string]any) {
	h.t.Helper()
	form := url.Values{"grant_type": {GrantTypeJWTBearer}, "assertion": {assertion}}
	resp, err := h.Client().PostForm(h.TokenURL(), form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, body
}

// token obtains an access token for sub with scopes.
func (h *harness) token(sub string, scopes ...string) string {
	h.t.Helper()
	code, body := h.postToken(h.assertion(func(a *Assertion) { a.Subject, a.Scopes = sub, scopes }))
	if code != http.StatusOK {
		h.t.Fatalf("token: %d %v", code, body)
	}
	return body["access_token"].(string)
}

// call makes an API request and returns the status and raw body.
func (h *harness) call(method, path, token string, body any) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL()+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// callJSON is call that decodes a JSON body into out.
func (h *harness) callJSON(method, path, token string, body, out any) int {
	h.t.Helper()
	code, raw := h.call(method, path, token, body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: %d %s: %v", method, path, code, raw, err)
		}
	}
	return code
}

// wantError checks a response is Google's error envelope with code, reason
// and (if not empty) message.
func (h *harness) wantError(code int, raw []byte, wantCode int, reason, message string) {
	h.t.Helper()
	var e apiError
	if err := json.Unmarshal(raw, &e); err != nil {
		h.t.Fatalf("not an error body: %s", raw)
	}
	if code != wantCode || e.Error.Code != wantCode || len(e.Error.Errors) != 1 ||
		e.Error.Errors[0].Reason != reason || e.Error.Errors[0].Domain != "global" ||
		e.Error.Status != statusNames[wantCode] || e.Error.Errors[0].Message == "" {
		h.t.Fatalf("got %d %s, want %d reason %s", code, raw, wantCode, reason)
	}
	if message != "" && (e.Error.Message != message || e.Error.Errors[0].Message != message) {
		h.t.Fatalf("message %q, want %q", e.Error.Message, message)
	}
}
