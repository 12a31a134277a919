package google

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/internal/idplogs"
	"github.com/portcullis-dev/portcullis/test/googleserver"
)

const loginPath = "/admin/reports/v1/activity/users/all/applications/login"

// newLogEnv is newEnv with the reports scope delegated too, and a window
// of an hour that ended an hour ago.
func newLogEnv(t *testing.T) (*env, connectors.LogQuery) {
	t.Helper()
	e := newEnv(t, "")
	e.srv.RegisterServiceAccount(saEmail, keyID, &testKeys()[0].PublicKey, append([]string{ReportsScope}, Scopes...))
	to := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	return e, connectors.LogQuery{System: e.target.System, Credentials: e.target.Credentials,
		From: to.Add(-time.Hour), To: to, Max: 5000}
}

// read runs ReadSignIns and checks its error shows no secret.
func (e *env) read(q connectors.LogQuery) ([]json.RawMessage, error) {
	e.t.Helper()
	recs, err := e.c.ReadSignIns(context.Background(), q)
	e.noSecrets(err)
	return recs, err
}

// login adds a login activity of user at.
func (e *env) login(user, event string, at time.Time) googleserver.Activity {
	return e.srv.AddLoginActivity(googleserver.Activity{ID: googleserver.ActivityID{Time: at},
		Actor: googleserver.Actor{Email: user}, IPAddress: "203.0.113.9",
		Events: []googleserver.Event{googleserver.LoginEvent(event, "google_password", false)}})
}

// activity is the part of a record the tests look at.
type activity struct {
	ID struct {
		Time            time.Time `json:"time"`
		UniqueQualifier int64     `json:"uniqueQualifier,string"`
		ApplicationName string    `json:"applicationName"`
	} `json:"id"`
	Actor struct {
		Email string `json:"email"`
	} `json:"actor"`
}

func decode(t *testing.T, recs []json.RawMessage) map[int64]activity {
	t.Helper()
	out := map[int64]activity{}
	for _, raw := range recs {
		var a activity
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		out[a.ID.UniqueQualifier] = a
	}
	return out
}

func TestReadSignInsPagesThroughTheWindow(t *testing.T) {
	e, q := newLogEnv(t)
	for i := range 2500 {
		e.login([]string{sam, alice}[i%2], []string{"login_success", "login_failure"}[i%5/4], q.From.Add(time.Duration(i)*time.Second))
	}
	recs, err := e.read(q)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, recs); len(recs) != 2500 || len(got) != 2500 {
		t.Fatalf("%d records, %d distinct, want 2500", len(recs), len(got))
	}
	if n := e.srv.Requests("GET", loginPath); n != 5 {
		t.Fatalf("%d pages, want 5 of 500", n)
	}
	// The records are the API's own JSON: false booleans included.
	if !bytes.Contains(recs[0], []byte(`{"name":"is_suspicious","boolValue":false}`)) {
		t.Fatalf("a record is not as sent: %s", recs[0])
	}
	// idplogs reads the records: the successful sign-ins become events.
	joined, _ := json.Marshal(recs)
	events, skipped, err := idplogs.Convert(idplogs.Google, "google-workspace", bytes.NewReader(joined), idplogs.DefaultMaxBytes)
	if err != nil || len(events) != 2000 || skipped != 500 {
		t.Fatalf("idplogs: %d events, %d skipped, %v", len(events), skipped, err)
	}
}

func TestReadSignInsWindowBounds(t *testing.T) {
	e, q := newLogEnv(t)
	in := map[int64]string{}
	for name, at := range map[string]time.Time{
		"at From": q.From, "just before To": q.To.Add(-time.Millisecond), "inside": q.From.Add(time.Minute),
	} {
		in[e.login(sam, "login_success", at).ID.UniqueQualifier] = name
	}
	for _, at := range []time.Time{q.From.Add(-time.Millisecond), q.To, q.To.Add(time.Millisecond), q.To.Add(time.Minute)} {
		e.login(sam, "login_success", at)
	}
	// Another application's activity in the window is no login.
	e.srv.AddLoginActivity(googleserver.Activity{ID: googleserver.ActivityID{Time: q.From.Add(time.Minute), ApplicationName: "admin"},
		Actor: googleserver.Actor{Email: adminEmail}, Events: []googleserver.Event{{Type: "USER_SETTINGS", Name: "SUSPEND_USER"}}})
	recs, err := e.read(q)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, recs)
	for id, name := range in {
		if _, ok := got[id]; !ok {
			t.Errorf("the activity %s is missing", name)
		}
	}
	for id, a := range got {
		if in[id] == "" || a.ID.ApplicationName != "login" || a.Actor.Email != sam {
			t.Errorf("an activity out of the window or of another application: %+v", a)
		}
	}
	// Sub-millisecond bounds: From rounds up, To too.
	q.From, q.To = q.From.Add(-time.Microsecond), q.To.Add(time.Microsecond)
	if recs, err := e.read(q); err != nil || len(recs) != 4 {
		t.Fatalf("a window a microsecond wider each way: %d records, %v", len(recs), err)
	}
}

func TestReadSignInsEmptyWindowSendsNothing(t *testing.T) {
	e, q := newLogEnv(t)
	e.login(sam, "login_success", q.From)
	q.To = q.From
	if recs, err := e.read(q); err != nil || len(recs) != 0 || e.tokens() != 0 {
		t.Fatalf("an empty window: %d records, %v, %d token requests", len(recs), err, e.tokens())
	}
	q.Max = 0
	if _, err := e.read(q); err == nil {
		t.Fatal("a limit of 0 was accepted")
	}
}

func TestReadSignInsTooManyRecords(t *testing.T) {
	e, q := newLogEnv(t)
	for i := range 2500 {
		e.login(sam, "login_success", q.From.Add(time.Duration(i)*time.Second))
	}
	q.Max = 1500
	if _, err := e.read(q); !errors.Is(err, connectors.ErrTooManyRecords) {
		t.Fatalf("2500 records over a limit of 1500: %v", err)
	}
	if n := e.srv.Requests("GET", loginPath); n != 4 {
		t.Fatalf("%d pages of 500 read, want 4: the fifth is not needed to know", n)
	}
	// A small limit is known to be exceeded after one small page.
	q.Max = 3
	if _, err := e.read(q); !errors.Is(err, connectors.ErrTooManyRecords) || e.srv.Requests("GET", loginPath) != 5 {
		t.Fatalf("a limit of 3: %v", err)
	}
	q.Max = 2500
	if recs, err := e.read(q); err != nil || len(recs) != 2500 {
		t.Fatalf("exactly the limit: %d, %v", len(recs), err)
	}
}

func TestReadSignInsRetriesThrottling(t *testing.T) {
	for _, status := range []int{429, 403} {
		e, q := newLogEnv(t)
		e.login(sam, "login_success", q.From)
		e.srv.InjectFault(loginPath, 2, status)
		if recs, err := e.read(q); err != nil || len(recs) != 1 || e.srv.Requests("GET", loginPath) != 3 {
			t.Fatalf("%d twice: %d records, %v", status, len(recs), err)
		}
		e.srv.InjectFault(loginPath, 4, status)
		if _, err := e.read(q); err == nil || !strings.Contains(err.Error(), "throttled") {
			t.Fatalf("%d persistently: %v", status, err)
		}
	}
}

func TestReadSignInsUnreachableAndTLS(t *testing.T) {
	e, q := newLogEnv(t)
	e.srv.SetDown(true)
	if _, err := e.read(q); !errors.Is(err, connectors.ErrUnreachable) {
		t.Fatalf("the token endpoint down: %v", err)
	}
	e.srv.SetDown(false)
	e.srv.InjectFault(loginPath, 1, 503) // not retried: the poller reads again later
	if _, err := e.read(q); !errors.Is(err, connectors.ErrUnreachable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("the API's 503: %v", err)
	}
	q.System = q.System.DeepCopy()
	q.System.UID = "wrong-ca"
	q.System.Spec.Google.CABundle = string(connectorstest.NewCA(t).PEM)
	if _, err := e.read(q); !errors.Is(err, connectors.ErrTLS) {
		t.Fatalf("a CA that did not sign the certificate: %v", err)
	}
}

func TestReadSignInsAsksOnlyTheReportsScope(t *testing.T) {
	e, q := newLogEnv(t)
	// Only the reports scope delegated: enough, as it is all the read asks.
	e.srv.RegisterServiceAccount(saEmail, keyID, &testKeys()[0].PublicKey, []string{ReportsScope})
	if _, err := e.read(q); err != nil {
		t.Fatalf("with the reports scope alone: %v", err)
	}
	// Not delegated: the token endpoint refuses, and the error names it.
	e.srv.RegisterServiceAccount(saEmail, keyID, &testKeys()[0].PublicKey, Scopes)
	e.c = &Connector{retryBase: time.Millisecond}
	_, err := e.read(q)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), ReportsScope) ||
		!strings.Contains(err.Error(), "Domain-wide delegation") || strings.Contains(err.Error(), Scopes[0]) {
		t.Fatalf("the reports scope not delegated: %v", err)
	}
	if e.srv.Requests("GET", loginPath) != 1 {
		t.Fatal("the API was called without a token")
	}
}

func TestReadSignInsTokenWithoutTheScope(t *testing.T) {
	e, q := newLogEnv(t)
	if err := e.check(); err != nil {
		t.Fatal(err)
	}
	// A token of the directory scopes, cached as the reports one: the API
	// answers 403 insufficientPermissions.
	dir := e.c.tokens.get(cacheKey(q.System, e.srv.TokenURL(), adminEmail, Scopes, q.Credentials[KeyServiceAccountKey]))
	if dir == nil {
		t.Fatal("no cached directory token")
	}
	e.c.tokens.put(cacheKey(q.System, e.srv.TokenURL(), adminEmail, []string{ReportsScope}, q.Credentials[KeyServiceAccountKey]), dir)
	_, err := e.read(q)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "403 insufficientPermissions") ||
		!strings.Contains(err.Error(), ReportsScope) {
		t.Fatalf("a token without the reports scope: %v", err)
	}
}

func TestReadSignInsTellsBadCredentialsApart(t *testing.T) {
	e, q := newLogEnv(t)
	q.Credentials = map[string][]byte{KeyServiceAccountKey: keyFile(t, testKeys()[1], DefaultTokenURL)}
	if _, err := e.read(q); !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "key was refused") {
		t.Fatalf("another key: %v", err)
	}
	// A subject who is no admin earns a token that the API refuses.
	q.Credentials = e.target.Credentials
	q.System.Spec.Google.AdminEmail = alice
	_, err := e.read(q)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "privilege Reports") ||
		!strings.Contains(err.Error(), alice) {
		t.Fatalf("an admin that is no admin: %v", err)
	}
}

func TestReadSignInsLeaksNoSecretAndIsBounded(t *testing.T) {
	e, q := newLogEnv(t)
	for _, srv := range []*echoServer{{}, {issue: true}, {issue: true, huge: true}} {
		_, q.System = e.serve(srv)
		_, err := e.read(q)
		if err == nil || (!srv.huge && !strings.Contains(err.Error(), "400")) || (srv.huge && !strings.Contains(err.Error(), "larger than")) {
			t.Fatalf("%+v: %v", srv, err)
		}
		for _, s := range append([]string{"s3cret-token"}, srv.sent...) {
			if s != "" && strings.Contains(err.Error(), s) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		}
	}
}

func TestReadSignInsStopsEndlessPaging(t *testing.T) {
	e, q := newLogEnv(t)
	pages := 0
	endless := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" {
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.s3cret-token", "token_type": "Bearer", "expires_in": 3599})
			return
		}
		pages++
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "admin#reports#activities", "nextPageToken": "p" + r.URL.Query().Get("pageToken")})
	})
	_, q.System = e.serve(endless)
	q.Max = 2500 // pages of 500: at most 7
	if _, err := e.read(q); err == nil || !strings.Contains(err.Error(), "more than 7 pages") || pages != 7 {
		t.Fatalf("endless empty pages: %d read, %v", pages, err)
	}
}
