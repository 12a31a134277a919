package oktaserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAPIToken = "00test-api-token"
	testClientID = "0oatestclient"
)

var allScopes = []string{ScopeUsersRead, ScopeUsersManage, ScopeGroupsRead, ScopeGroupsManage, ScopeLogsRead, ScopeOrgsRead}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func clientKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey
}

type fixture struct {
	*Server
	t     *testing.T
	key   *rsa.PrivateKey
	clock *fakeClock
}

func newFixture(t *testing.T, opts Options, scopes ...string) *fixture {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	opts.APIToken = testAPIToken
	key := clientKey(t)
	if scopes == nil {
		scopes = allScopes
	}
	opts.Clients = append(opts.Clients, Client{ID: testClientID, PublicKey: &key.PublicKey, Scopes: scopes})
	s := New(opts)
	t.Cleanup(s.Close)
	return &fixture{Server: s, t: t, key: key, clock: clock}
}

// signJWT builds an RS256 JWT over claims.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	input := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *fixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"iss": testClientID, "sub": testClientID, "aud": f.TokenURL(),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": randomID("", 16),
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (f *fixture) send(req *http.Request) response {
	f.t.Helper()
	resp, err := f.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// call sends a Management API request; auth is a full Authorization value.
func (f *fixture) call(method, pathOrURL, auth string) response {
	f.t.Helper()
	if !strings.HasPrefix(pathOrURL, "https://") {
		pathOrURL = f.URL() + pathOrURL
	}
	req, err := http.NewRequest(method, pathOrURL, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return f.send(req)
}

func (f *fixture) ssws(method, path string) response {
	f.t.Helper()
	return f.call(method, path, "SSWS "+testAPIToken)
}

func (f *fixture) tokenRequest(form url.Values) response {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return f.send(req)
}

func (f *fixture) tokenForm(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

// bearer gets an access token for scope and returns the Authorization value.
func (f *fixture) bearer(scope string) string {
	f.t.Helper()
	r := f.tokenRequest(f.tokenForm(signJWT(f.t, f.key, f.claims()), scope))
	if r.status != http.StatusOK {
		f.t.Fatalf("token: %d %s", r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.json(f.t, &tok)
	return "Bearer " + tok.AccessToken
}

var errorIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{10,}$`)

// wantError checks status and that the body is exactly Okta's error shape.
func wantError(t *testing.T, r response, status int, code string) Error {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var raw map[string]any
	r.json(t, &raw)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"errorCauses", "errorCode", "errorId", "errorLink", "errorSummary"}; !slices.Equal(keys, want) {
		t.Fatalf("error keys %v, want %v", keys, want)
	}
	if _, ok := raw["errorCauses"].([]any); !ok {
		t.Fatalf("errorCauses not an array: %s", r.body)
	}
	var e Error
	r.json(t, &e)
	if e.ErrorCode != code || e.ErrorLink != code || e.ErrorSummary == "" || !errorIDPattern.MatchString(e.ErrorID) {
		t.Fatalf("error body %+v, want code %s", e, code)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	return e
}

func TestMembershipIdempotent(t *testing.T) {
	f := newFixture(t, Options{})
	uid := f.AddUser("ada@example.com")
	gid := f.AddGroup("engineers")
	path := "/api/v1/groups/" + gid + "/users/" + uid
	for range 2 {
		if r := f.ssws(http.MethodPut, path); r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("PUT: %d %s", r.status, r.body)
		}
		if got := f.Members(gid); !slices.Equal(got, []string{"ada@example.com"}) {
			t.Fatalf("members %v", got)
		}
	}
	for range 2 {
		if r := f.ssws(http.MethodDelete, path); r.status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		if got := f.Members(gid); len(got) != 0 {
			t.Fatalf("members %v", got)
		}
	}
	if n := f.Requests(RouteAddGroupMember); n != 2 {
		t.Fatalf("PUT requests %d", n)
	}
	wantError(t, f.ssws(http.MethodPut, "/api/v1/groups/00gmissing/users/"+uid), 404, "E0000007")
	wantError(t, f.ssws(http.MethodPut, "/api/v1/groups/"+gid+"/users/00umissing"), 404, "E0000007")
	// Membership paths take a user id, not a login.
	wantError(t, f.ssws(http.MethodPut, "/api/v1/groups/"+gid+"/users/ada@example.com"), 404, "E0000007")
}

func TestSuspendUnsuspend(t *testing.T) {
	f := newFixture(t, Options{})
	uid := f.AddUser("bob@example.com")
	f.AddUser("gone@example.com")
	f.SetUserStatus("gone@example.com", StatusDeprovisioned)

	if r := f.ssws(http.MethodPost, "/api/v1/users/"+uid+"/lifecycle/suspend"); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	if s := f.UserStatus("bob@example.com"); s != StatusSuspended {
		t.Fatalf("status %s", s)
	}
	e := wantError(t, f.ssws(http.MethodPost, "/api/v1/users/"+uid+"/lifecycle/suspend"), 400, "E0000001")
	if len(e.ErrorCauses) != 1 || !strings.Contains(e.ErrorCauses[0].ErrorSummary, "not active") {
		t.Fatalf("causes %+v", e.ErrorCauses)
	}
	// {id} also accepts a login.
	if r := f.ssws(http.MethodPost, "/api/v1/users/bob@example.com/lifecycle/unsuspend"); r.status != http.StatusOK {
		t.Fatalf("unsuspend: %d %s", r.status, r.body)
	}
	if s := f.UserStatus("bob@example.com"); s != StatusActive {
		t.Fatalf("status %s", s)
	}
	wantError(t, f.ssws(http.MethodPost, "/api/v1/users/"+uid+"/lifecycle/unsuspend"), 400, "E0000001")
	wantError(t, f.ssws(http.MethodPost, "/api/v1/users/gone@example.com/lifecycle/suspend"), 400, "E0000001")
	if s := f.UserStatus("gone@example.com"); s != StatusDeprovisioned {
		t.Fatalf("status %s", s)
	}
	wantError(t, f.ssws(http.MethodPost, "/api/v1/users/nobody/lifecycle/suspend"), 404, "E0000007")
}

func TestClearSessions(t *testing.T) {
	f := newFixture(t, Options{})
	uid := f.AddUser("cy@example.com")
	for range 3 {
		f.AddSession(uid)
	}
	f.AddOAuthToken(uid)
	f.AddOAuthToken(uid)

	readOnly := f.bearer(ScopeUsersRead)
	wantError(t, f.call(http.MethodDelete, "/api/v1/users/"+uid+"/sessions", readOnly), 403, "E0000006")
	if f.Sessions(uid) != 3 {
		t.Fatal("sessions cleared without okta.users.manage")
	}
	manage := f.bearer(ScopeUsersManage)
	if r := f.call(http.MethodDelete, "/api/v1/users/"+uid+"/sessions", manage); r.status != http.StatusNoContent {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	if f.Sessions(uid) != 0 || f.OAuthTokens(uid) != 2 {
		t.Fatalf("sessions %d tokens %d", f.Sessions(uid), f.OAuthTokens(uid))
	}
	f.AddSession(uid)
	if r := f.call(http.MethodDelete, "/api/v1/users/"+uid+"/sessions?oauthTokens=true", manage); r.status != http.StatusNoContent {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	if f.Sessions(uid) != 0 || f.OAuthTokens(uid) != 0 {
		t.Fatalf("sessions %d tokens %d", f.Sessions(uid), f.OAuthTokens(uid))
	}
	wantError(t, f.ssws(http.MethodDelete, "/api/v1/users/00umissing/sessions"), 404, "E0000007")
}
