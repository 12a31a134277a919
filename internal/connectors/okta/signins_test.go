package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/idplogs"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

// logStart is the start of the windows the tests read.
var logStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newLogEnv is newEnv with a service app that may also read the System
// Log.
func newLogEnv(t *testing.T, oauth bool, opts oktaserver.Options) *env {
	t.Helper()
	e := newEnv(t, "", oauth, opts)
	e.srv.RegisterClient(clientID, &testKey().PublicKey,
		oktaserver.ScopeUsersManage, oktaserver.ScopeGroupsManage, oktaserver.ScopeLogsRead)
	return e
}

// signIn adds a successful event of type eventType by who at at.
func (e *env) signIn(eventType, who string, at time.Time) string {
	return e.srv.AddLogEvent(oktaserver.LogEvent{
		EventType: eventType, Published: at,
		Actor:   oktaserver.LogActor{ID: "00u" + who, Type: "User", AlternateID: who},
		Client:  oktaserver.LogClient{IPAddress: "203.0.113.7", UserAgent: oktaserver.LogUserAgent{RawUserAgent: "test"}},
		Outcome: oktaserver.LogOutcome{Result: "SUCCESS"},
	})
}

// query is a read of [from, to) with the env's system and credentials.
func (e *env) query(from, to time.Time, maxRecords int) connectors.LogQuery {
	return connectors.LogQuery{System: e.target.System, Credentials: e.target.Credentials, From: from, To: to, Max: maxRecords}
}

// read reads q and checks that no error shows a secret.
func (e *env) read(q connectors.LogQuery) ([]json.RawMessage, error) {
	e.t.Helper()
	recs, err := e.c.ReadSignIns(context.Background(), q)
	e.noSecrets(err)
	return recs, err
}

// uuids are the records' uuids, sorted.
func uuids(t *testing.T, recs []json.RawMessage) []string {
	t.Helper()
	out := make([]string, 0, len(recs))
	for _, raw := range recs {
		var ev struct {
			UUID string `json:"uuid"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil || ev.UUID == "" {
			t.Fatalf("not a log event: %s", raw)
		}
		out = append(out, ev.UUID)
	}
	slices.Sort(out)
	return out
}

func TestReadSignInsWithBothAuthFlows(t *testing.T) {
	for name, oauth := range map[string]bool{"service app": true, "API token": false} {
		t.Run(name, func(t *testing.T) {
			e := newLogEnv(t, oauth, oktaserver.Options{})
			want := []string{
				e.signIn("user.session.start", login, logStart.Add(time.Minute)),
				e.signIn("user.authentication.sso", login, logStart.Add(2*time.Minute)),
			}
			slices.Sort(want)
			recs, err := e.read(e.query(logStart, logStart.Add(time.Hour), 100))
			if err != nil {
				t.Fatalf("ReadSignIns: %v", err)
			}
			if got := uuids(t, recs); !slices.Equal(got, want) {
				t.Fatalf("read %v, want %v", got, want)
			}
			// The records are Okta's own objects, which idplogs reads.
			rec, err := idplogs.ReadRecord(idplogs.Okta, "okta", recs[0])
			if err != nil || !rec.SignIn || rec.Event.Account == nil || rec.Event.Account.ID != login {
				t.Fatalf("idplogs reads %+v, %v", rec, err)
			}
			if oauth {
				if n := e.srv.Requests(oktaserver.RouteToken); n != 1 {
					t.Fatalf("%d token requests, want 1", n)
				}
			}
		})
	}
}

func TestReadSignInsFollowsEveryPage(t *testing.T) {
	e := newLogEnv(t, false, oktaserver.Options{})
	var want []string
	for i := range 2100 {
		want = append(want, e.signIn("user.session.start", fmt.Sprintf("u%d@example.com", i), logStart.Add(time.Duration(i)*time.Second)))
	}
	slices.Sort(want)
	recs, err := e.read(e.query(logStart, logStart.Add(24*time.Hour), 5000))
	if err != nil {
		t.Fatalf("ReadSignIns: %v", err)
	}
	if got := uuids(t, recs); !slices.Equal(got, want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	if n := e.srv.Requests(oktaserver.RouteLogs); n != 3 {
		t.Fatalf("%d pages read, want 3", n)
	}
}

func TestReadSignInsWindowBounds(t *testing.T) {
	e := newLogEnv(t, true, oktaserver.Options{})
	from, to := logStart, logStart.Add(time.Hour)
	e.signIn("user.session.start", "before@example.com", from.Add(-time.Millisecond))
	atFrom := e.signIn("user.session.start", "from@example.com", from)
	last := e.signIn("user.session.start", "last@example.com", to.Add(-time.Millisecond))
	e.signIn("user.session.start", "to@example.com", to)
	want := []string{atFrom, last}
	slices.Sort(want)
	recs, err := e.read(e.query(from, to, 100))
	if err != nil {
		t.Fatalf("ReadSignIns: %v", err)
	}
	if got := uuids(t, recs); !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v (From included, To excluded)", got, want)
	}
	// Bounds between milliseconds: an event before From is not read, and
	// one before To is.
	recs, err = e.read(e.query(from.Add(-time.Microsecond), to.Add(-500*time.Microsecond), 100))
	if err != nil || len(recs) != 2 {
		t.Fatalf("sub-millisecond bounds: %d events, %v", len(recs), err)
	}
	recs, err = e.read(e.query(from.Add(time.Microsecond), to.Add(time.Microsecond), 100))
	if got := uuids(t, recs); err != nil || len(got) != 2 || slices.Contains(got, atFrom) {
		t.Fatalf("a From after the event: %v, %v", got, err)
	}
	if recs, err := e.read(e.query(from, from, 100)); err != nil || len(recs) != 0 {
		t.Fatalf("an empty window: %d, %v", len(recs), err)
	}
	if _, err := e.read(e.query(to, from, 100)); err == nil {
		t.Fatal("a reversed window was read")
	}
}

func TestReadSignInsReadsOnlySignIns(t *testing.T) {
	e := newLogEnv(t, true, oktaserver.Options{})
	at := logStart.Add(time.Minute)
	want := []string{
		e.signIn("user.session.start", login, at),
		e.signIn("user.authentication.sso", login, at),
	}
	failed := e.srv.AddLogEvent(oktaserver.LogEvent{EventType: "user.session.start", Published: at,
		Actor: oktaserver.LogActor{AlternateID: login}, Outcome: oktaserver.LogOutcome{Result: "FAILURE"}})
	want = append(want, failed) // idplogs skips it
	slices.Sort(want)
	for _, other := range []string{"user.session.end", "user.authentication.auth_via_mfa", "policy.evaluate_sign_on",
		"user.lifecycle.suspend", "user.session.start.x", "USER.SESSION"} {
		e.signIn(other, login, at)
	}
	recs, err := e.read(e.query(logStart, logStart.Add(time.Hour), 100))
	if err != nil {
		t.Fatalf("ReadSignIns: %v", err)
	}
	if got := uuids(t, recs); !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
}

func TestReadSignInsStopsPastTheLimit(t *testing.T) {
	e := newLogEnv(t, false, oktaserver.Options{})
	for i := range 2100 {
		e.signIn("user.session.start", login, logStart.Add(time.Duration(i)*time.Second))
	}
	window := e.query(logStart, logStart.Add(24*time.Hour), 5)
	if _, err := e.read(window); !errors.Is(err, connectors.ErrTooManyRecords) {
		t.Fatalf("Max 5: %v", err)
	}
	if n := e.srv.Requests(oktaserver.RouteLogs); n != 1 {
		t.Fatalf("%d pages read for Max 5, want 1", n)
	}
	window.Max = 1500
	if _, err := e.read(window); !errors.Is(err, connectors.ErrTooManyRecords) {
		t.Fatalf("Max 1500: %v", err)
	}
	if n := e.srv.Requests(oktaserver.RouteLogs); n != 3 {
		t.Fatalf("%d pages read for Max 1500, want 2 more", n-1)
	}
	window.Max = 2100
	if recs, err := e.read(window); err != nil || len(recs) != 2100 {
		t.Fatalf("Max 2100: %d, %v", len(recs), err)
	}
}

func TestReadSignInsHonoursRateLimitReset(t *testing.T) {
	e := newLogEnv(t, true, oktaserver.Options{RateLimitWindow: 200 * time.Millisecond})
	e.signIn("user.session.start", login, logStart)
	e.srv.FailNext(oktaserver.RouteLogs, 1, http.StatusTooManyRequests)
	start := time.Now()
	recs, err := e.read(e.query(logStart, logStart.Add(time.Hour), 10))
	if err != nil || len(recs) != 1 {
		t.Fatalf("after a 429: %d, %v", len(recs), err)
	}
	if n := e.srv.Requests(oktaserver.RouteLogs); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	if time.Since(start) < minRateLimitWait {
		t.Fatal("the retry did not wait for the reset")
	}
}

func TestReadSignInsNamesAMissingScope(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{}) // the app lacks okta.logs.read
	_, err := e.read(e.query(logStart, logStart.Add(time.Hour), 10))
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "missing scope okta.logs.read") ||
		strings.Contains(err.Error(), "okta.users.manage and") {
		t.Fatalf("token request: %v", err)
	}
	// An access token without the scope: Okta's 403 challenge names it.
	a, err := e.c.clientFor(e.target.System, e.target.Credentials, LogScopes)
	if err != nil {
		t.Fatal(err)
	}
	enforce, err := e.c.client(e.target.System, e.target.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := enforce.authorization(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.c.storeToken(a.cacheKey, token, time.Now().Add(time.Hour))
	_, err = e.read(e.query(logStart, logStart.Add(time.Hour), 10))
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "missing scope okta.logs.read") ||
		strings.Contains(err.Error(), token) {
		t.Fatalf("403: %v", err)
	}
}

func TestLogAndEnforcementTokensAreCachedApart(t *testing.T) {
	e := newLogEnv(t, true, oktaserver.Options{})
	if err := e.check(e.target.Credentials); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if _, err := e.read(e.query(logStart, logStart.Add(time.Hour), 10)); err != nil {
		t.Fatalf("ReadSignIns after Check: %v", err)
	}
	if err := e.check(e.target.Credentials); err != nil {
		t.Fatalf("Check after ReadSignIns: %v", err)
	}
	if _, err := e.read(e.query(logStart, logStart.Add(time.Hour), 10)); err != nil {
		t.Fatalf("ReadSignIns: %v", err)
	}
	if n := e.srv.Requests(oktaserver.RouteToken); n != 2 {
		t.Fatalf("%d token requests, want 2: one per scope set", n)
	}
	logs, _ := e.c.clientFor(e.target.System, e.target.Credentials, LogScopes)
	enforce, _ := e.c.client(e.target.System, e.target.Credentials)
	logToken, _ := e.c.cachedToken(logs.cacheKey)
	enforceToken, _ := e.c.cachedToken(enforce.cacheKey)
	if got := e.srv.AccessTokenScopes(logToken); !slices.Equal(got, []string{oktaserver.ScopeLogsRead}) {
		t.Fatalf("the log token's scopes: %v", got)
	}
	if got := e.srv.AccessTokenScopes(enforceToken); !slices.Equal(got, strings.Fields(Scopes)) {
		t.Fatalf("the enforcement token's scopes: %v", got)
	}
}

func TestReadSignInsTellsBadCredentials(t *testing.T) {
	e := newLogEnv(t, true, oktaserver.Options{})
	for name, creds := range map[string]map[string][]byte{
		"a wrong API token": {KeyAPIToken: []byte("wrong-token-s3cret")},
		"an unknown client": {KeyClientID: []byte("0oa-unknown"), KeyPrivateKey: e.keyPEM},
	} {
		q := e.query(logStart, logStart.Add(time.Hour), 10)
		q.Credentials = creds
		_, err := e.read(q)
		if !errors.Is(err, connectors.ErrCredentials) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.read(connectors.LogQuery{From: logStart, To: logStart.Add(time.Hour)}); err == nil {
		t.Error("a query without a system was read")
	}
}

func TestReadSignInsUnreachable(t *testing.T) {
	e := newLogEnv(t, false, oktaserver.Options{})
	e.srv.SetDown(true)
	if _, err := e.read(e.query(logStart, logStart.Add(time.Hour), 10)); !errors.Is(err, connectors.ErrUnreachable) {
		t.Fatalf("a 503: %v", err)
	}
}

// hostileOrg serves one page of the System Log whose next link is next,
// and a token to a service app.
type hostileOrg struct {
	next  string
	mu    sync.Mutex
	pages int
}

func (o *hostileOrg) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == tokenPath {
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-s3cret-token", "token_type": "Bearer", "expires_in": 3600})
		return
	}
	o.mu.Lock()
	o.pages++
	o.mu.Unlock()
	w.Header().Set("Link", "<"+o.next+`>; rel="next"`)
	_, _ = w.Write([]byte(`[]`))
}

// witness records whether anything reached it, and with which
// Authorization header.
type witness struct {
	mu   sync.Mutex
	hits []string
}

func (s *witness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits = append(s.hits, r.Header.Get("Authorization"))
	s.mu.Unlock()
	_, _ = w.Write([]byte(`[]`))
}

func TestReadSignInsFollowsNoLinkOffTheOrg(t *testing.T) {
	e := newLogEnv(t, true, oktaserver.Options{})
	other := &witness{}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	org := &hostileOrg{}
	orgSrv := httptest.NewServer(org)
	defer orgSrv.Close()
	orgHost := strings.TrimPrefix(orgSrv.URL, "http://")
	for _, next := range []string{
		otherSrv.URL + "/api/v1/logs?after=x",
		"https://" + orgHost + "/api/v1/logs?after=x",
		orgSrv.URL + "/api/v1/users?after=x",
		"http://user:pw@" + orgHost + "/api/v1/logs",
		"//" + strings.TrimPrefix(otherSrv.URL, "http://") + "/api/v1/logs",
	} {
		for _, oauth := range []bool{true, false} {
			org.next = next
			system := e.target.System.DeepCopy()
			system.UID = "hostile"
			system.Spec.Okta.OrgURL, system.Spec.Insecure = orgSrv.URL, true
			q := e.query(logStart, logStart.Add(time.Hour), 10)
			q.System = system
			if !oauth {
				q.Credentials = map[string][]byte{KeyAPIToken: []byte(apiToken)}
			}
			_, err := (&Connector{}).ReadSignIns(context.Background(), q)
			if err == nil || !strings.Contains(err.Error(), "refusing to follow it") {
				t.Fatalf("next %s: %v", next, err)
			}
			e.noSecrets(err)
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows a secret: %v", err)
			}
		}
	}
	if len(other.hits) != 0 {
		t.Fatalf("the other host received %d requests (Authorization %q)", len(other.hits), other.hits)
	}
	if org.pages != 10 {
		t.Fatalf("the org served %d pages, want one per read", org.pages)
	}
}

func TestReadSignInsBoundsThePages(t *testing.T) {
	org := &hostileOrg{}
	orgSrv := httptest.NewServer(org)
	defer orgSrv.Close()
	org.next = orgSrv.URL + "/api/v1/logs?after=again"
	e := newLogEnv(t, false, oktaserver.Options{})
	system := e.target.System.DeepCopy()
	system.Spec.Okta.OrgURL, system.Spec.Insecure = orgSrv.URL, true
	q := e.query(logStart, logStart.Add(time.Hour), 2500)
	q.System = system
	if _, err := (&Connector{}).ReadSignIns(context.Background(), q); err == nil || !strings.Contains(err.Error(), "more than 4 pages") {
		t.Fatalf("endless next links: %v", err)
	}
	if org.pages != 4 {
		t.Fatalf("%d pages read, want 4", org.pages)
	}
}

func TestLogParams(t *testing.T) {
	from := time.Date(2026, 3, 2, 11, 0, 0, 1, time.FixedZone("CET", 3600))
	q := connectors.LogQuery{From: from, To: from.Add(time.Hour), Max: 10}
	p := logParams(q, 11)
	want := map[string]string{
		"since":     "2026-03-02T10:00:00.001Z",
		"until":     "2026-03-02T11:00:00.001Z",
		"filter":    `eventType eq "user.session.start" or eventType eq "user.authentication.sso"`,
		"sortOrder": "ASCENDING",
		"limit":     "11",
	}
	for k, v := range want {
		if p.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, p.Get(k), v)
		}
	}
}
