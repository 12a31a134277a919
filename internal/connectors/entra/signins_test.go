package entra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/graphserver"
)

// signInRoles are the least privileged permissions plus the sign-in log's.
var signInRoles = append(slices.Clone(leastPrivilege), "AuditLog.Read.All")

// signInEnv is a tenant whose app may read the sign-in log, and a query
// of the hour before now.
func signInEnv(t *testing.T, o envOpts) (*env, connectors.LogQuery) {
	t.Helper()
	if o.roles == nil {
		o.roles = signInRoles
	}
	e := newEnv(t, o)
	to := e.clock.Now().UTC().Truncate(time.Second)
	return e, connectors.LogQuery{System: e.target.System, Credentials: e.target.Credentials,
		From: to.Add(-time.Hour), To: to, Max: 100}
}

// addSignIns adds n sign-ins of sam, one a second from start, and returns
// their ids in that order.
func (e *env) addSignIns(start time.Time, n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, e.srv.AddSignIn(graphserver.SignIn{CreatedDateTime: start.Add(time.Duration(i) * time.Second),
			UserPrincipalName: samUPN, AppDisplayName: "Azure Portal", IPAddress: fmt.Sprintf("203.0.113.%d", i+1)}))
	}
	return ids
}

// signInReads counts the requests for pages of the sign-in log.
func (e *env) signInReads() int { return e.srv.Requests("GET", signInsPath) }

// ids are the records' ids, sorted.
func ids(t *testing.T, records []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, raw := range records {
		var rec struct {
			ID  string `json:"id"`
			UPN string `json:"userPrincipalName"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil || rec.ID == "" || rec.UPN != samUPN {
			t.Fatalf("record %s: %v", raw, err)
		}
		out = append(out, rec.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestReadSignInsPagesWithBothCredentialKinds(t *testing.T) {
	for _, cert := range []bool{false, true} {
		t.Run("cert="+strconv.FormatBool(cert), func(t *testing.T) {
			e, q := signInEnv(t, envOpts{cert: cert})
			e.c.pageSize = 3
			want := e.addSignIns(q.From.Add(time.Minute), 10)
			e.addSignIns(q.From.Add(-time.Minute), 2)
			e.addSignIns(q.To.Add(time.Minute), 2)
			got, err := e.c.ReadSignIns(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(t, got), sorted(want)) {
				t.Fatalf("read %d records, want the %d of the window", len(got), len(want))
			}
			if n := e.signInReads(); n != 4 {
				t.Fatalf("%d pages read, want 4 pages of 3", n)
			}
			var rec map[string]any
			if err := json.Unmarshal(got[0], &rec); err != nil || rec["status"] == nil || rec["location"] == nil ||
				rec["createdDateTime"] == nil {
				t.Fatalf("not Graph's signIn object: %s", got[0])
			}
		})
	}
}

func TestReadSignInsWindowBounds(t *testing.T) {
	e, q := signInEnv(t, envOpts{})
	add := func(at time.Time) string {
		return e.srv.AddSignIn(graphserver.SignIn{CreatedDateTime: at, UserPrincipalName: samUPN})
	}
	add(q.From.Add(-time.Second))
	add(q.From.Add(-time.Millisecond))
	want := []string{add(q.From), add(q.From.Add(500 * time.Millisecond)), add(q.To.Add(-time.Millisecond))}
	add(q.To)
	add(q.To.Add(time.Second))
	e.c.pageSize = 3
	got, err := e.c.ReadSignIns(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(t, got), sorted(want)) {
		t.Fatalf("read %d records, want the 3 at From, inside, and just before To", len(got))
	}
	if n := e.signInReads(); n != 1 {
		t.Fatalf("%d pages of 3 read: Graph did not filter the window", n)
	}

	// An empty window reads nothing, and one of no length asks nothing.
	before := e.signInReads()
	if got, err := e.c.ReadSignIns(context.Background(), connectors.LogQuery{System: q.System, Credentials: q.Credentials,
		From: q.To, To: q.To, Max: 1}); err != nil || len(got) != 0 || e.signInReads() != before {
		t.Fatalf("a window of no length: %d records, %v, %d reads", len(got), err, e.signInReads()-before)
	}
	got, err = e.c.ReadSignIns(context.Background(), connectors.LogQuery{System: q.System, Credentials: q.Credentials,
		From: q.To.Add(time.Hour), To: q.To.Add(2 * time.Hour), Max: 1})
	if err != nil || len(got) != 0 {
		t.Fatalf("an empty window: %d records, %v", len(got), err)
	}
}

func TestReadSignInsRefusesBadQueries(t *testing.T) {
	e, q := signInEnv(t, envOpts{})
	for name, bad := range map[string]func(*connectors.LogQuery){
		"To before From": func(q *connectors.LogQuery) { q.From, q.To = q.To, q.From },
		"no limit":       func(q *connectors.LogQuery) { q.Max = 0 },
		"no system":      func(q *connectors.LogQuery) { q.System = nil },
	} {
		bq := q
		bad(&bq)
		if _, err := e.c.ReadSignIns(context.Background(), bq); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := e.srv.Requests("POST", e.tokenPath) + e.signInReads(); n != 0 {
		t.Fatalf("%d requests for bad queries", n)
	}
}

func TestReadSignInsTooManyRecords(t *testing.T) {
	e, q := signInEnv(t, envOpts{})
	e.addSignIns(q.From, 10)

	// The first page of $top Max+1 tells.
	q.Max = 5
	if _, err := e.c.ReadSignIns(context.Background(), q); !errors.Is(err, connectors.ErrTooManyRecords) {
		t.Fatalf("10 records, at most 5: %v", err)
	}
	if n := e.signInReads(); n != 1 {
		t.Fatalf("%d pages read, want 1", n)
	}

	// Pages of 3: the second one passes 4, and no further page is read.
	e.c.pageSize = 3
	q.Max = 4
	if _, err := e.c.ReadSignIns(context.Background(), q); !errors.Is(err, connectors.ErrTooManyRecords) {
		t.Fatalf("10 records, at most 4: %v", err)
	}
	if n := e.signInReads(); n != 3 {
		t.Fatalf("%d more pages read, want 2", n-1)
	}

	// Exactly Max is fine.
	q.Max = 10
	if got, err := e.c.ReadSignIns(context.Background(), q); err != nil || len(got) != 10 {
		t.Fatalf("10 records, at most 10: %d, %v", len(got), err)
	}
}

func TestReadSignInsHonoursRetryAfter(t *testing.T) {
	e, q := signInEnv(t, envOpts{})
	e.c.pageSize = 2
	want := e.addSignIns(q.From, 3)
	e.srv.FailNext(signInsPath, http.StatusTooManyRequests, 1)
	start := time.Now()
	got, err := e.c.ReadSignIns(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Fatalf("retried after %v, before Retry-After: 1 had passed", elapsed)
	}
	if !slices.Equal(ids(t, got), sorted(want)) || e.signInReads() != 3 {
		t.Fatalf("%d records in %d reads after a 429", len(got), e.signInReads())
	}

	// A throttle that outlasts the deadline ends the read, without waiting.
	e.srv.FailNext(signInsPath, http.StatusTooManyRequests, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := e.c.ReadSignIns(ctx, q); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a Retry-After beyond the deadline: %v", err)
	}
}

func TestReadSignInsMissingPermission(t *testing.T) {
	e, q := signInEnv(t, envOpts{roles: leastPrivilege})
	e.addSignIns(q.From, 1)
	_, err := e.c.ReadSignIns(context.Background(), q)
	if !errors.Is(err, connectors.ErrCredentials) || !strings.Contains(err.Error(), "lacks the Microsoft Graph application permission AuditLog.Read.All") {
		t.Fatalf("without AuditLog.Read.All: %v", err)
	}
	// Check needs no sign-in permission, as before.
	if err := e.check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestReadSignInsBadCredentials(t *testing.T) {
	e, q := signInEnv(t, envOpts{})
	q.Credentials = map[string][]byte{KeyClientID: []byte(clientID), KeyClientSecret: []byte("not-the-s3cret-value")}
	_, err := e.c.ReadSignIns(context.Background(), q)
	if !errors.Is(err, connectors.ErrCredentials) || strings.Contains(err.Error(), "not-the-s3cret-value") {
		t.Fatalf("a wrong secret: %v", err)
	}
	if e.signInReads() != 0 {
		t.Fatal("read the log without a token")
	}

	e, q = signInEnv(t, envOpts{cert: true})
	_, other, _ := newAppCert(t)
	q.Credentials = map[string][]byte{KeyClientID: []byte(clientID), KeyCertificate: other, KeyPrivateKey: e.keyPEM}
	if _, err := e.c.ReadSignIns(context.Background(), q); err == nil {
		t.Fatal("a certificate that is not the key's")
	}
}

func TestReadSignInsUnreachableAndTLS(t *testing.T) {
	e, q := signInEnv(t, envOpts{})
	wrongCA := q
	wrongCA.System = q.System.DeepCopy()
	wrongCA.System.Spec.Entra.CABundle = string(connectorstest.NewCA(t).PEM)
	if _, err := e.c.ReadSignIns(context.Background(), wrongCA); !errors.Is(err, connectors.ErrTLS) {
		t.Fatalf("wrong CA: %v", err)
	}
	e.srv.Close()
	if _, err := e.c.ReadSignIns(context.Background(), q); !errors.Is(err, connectors.ErrUnreachable) {
		t.Fatalf("closed server: %v", err)
	}
}

// linkRewriter fronts the fake with a proxy that moves the @odata.nextLink
// of sign-in pages to the proxy's host and then replaces it by
// rewrite(link, front), front being the proxy's URL.
func linkRewriter(t *testing.T, e *env, rewrite func(link, front string) string) *httptest.Server {
	t.Helper()
	fake, err := url.Parse(e.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(fake)
	proxy.Transport = e.srv.Client().Transport
	var front *httptest.Server
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.EqualFold(resp.Request.URL.Path, signInsPath) || resp.StatusCode != http.StatusOK {
			return nil
		}
		var page map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return err
		}
		_ = resp.Body.Close()
		if link, ok := page["@odata.nextLink"].(string); ok {
			page["@odata.nextLink"] = rewrite(strings.Replace(link, e.srv.URL(), front.URL, 1), front.URL)
		}
		body, err := json.Marshal(page)
		if err != nil {
			return err
		}
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	front = httptest.NewTLSServer(proxy) // the same test certificate as the fake
	t.Cleanup(front.Close)
	return front
}

func TestReadSignInsFollowsNextLinkOnTheGraphHostOnly(t *testing.T) {
	// Another host that the caBundle trusts too, recording what it gets.
	var mu sync.Mutex
	var got []string
	evil := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	defer evil.Close()
	evilURL, _ := url.Parse(evil.URL)
	for name, rewrite := range map[string]func(link, front string) string{
		"another host": func(link, front string) string { return strings.Replace(link, front, evil.URL, 1) },
		"another name": func(link, front string) string { return strings.Replace(link, "127.0.0.1", "localhost", 1) },
		"http":         func(link, front string) string { return strings.Replace(link, "https://", "http://", 1) },
		"user info": func(link, front string) string {
			return strings.Replace(link, "https://", "https://"+evilURL.Host+"@", 1)
		},
		"another path": func(link, front string) string { return strings.Replace(link, "/auditLogs/signIns", "/users", 1) },
		"a path escape": func(link, front string) string {
			return strings.Replace(link, "/auditLogs/signIns", "/auditLogs/signIns/..%2Fusers", 1)
		},
		"protocol-relative": func(link, front string) string {
			return "//" + evilURL.Host + signInsPath
		},
	} {
		t.Run(name, func(t *testing.T) {
			e, q := signInEnv(t, envOpts{})
			e.c.pageSize = 2
			e.addSignIns(q.From, 3)
			front := linkRewriter(t, e, rewrite)
			q.System = q.System.DeepCopy()
			q.System.Spec.Entra.GraphEndpoint = front.URL
			_, err := e.c.ReadSignIns(context.Background(), q)
			if err == nil || !strings.Contains(err.Error(), "refusing to follow") {
				t.Fatalf("followed a hostile nextLink: %v", err)
			}
			if e.signInReads() != 1 || e.srv.Requests("GET", "/v1.0/users") != 0 {
				t.Fatalf("%d sign-in pages read", e.signInReads())
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Fatalf("the other host received %d requests: %q", len(got), got)
	}

	// The same proxy, passing links through: all pages are read.
	e, q := signInEnv(t, envOpts{})
	e.c.pageSize = 2
	want := e.addSignIns(q.From, 3)
	front := linkRewriter(t, e, func(link, _ string) string { return link })
	q.System.Spec.Entra.GraphEndpoint = front.URL
	records, err := e.c.ReadSignIns(context.Background(), q)
	if err != nil || !slices.Equal(ids(t, records), sorted(want)) {
		t.Fatalf("through the proxy: %d records, %v", len(records), err)
	}
}

func TestSignInsLink(t *testing.T) {
	g := &graph{base: "https://graph.example", host: "graph.example"}
	for link, ok := range map[string]bool{
		"https://graph.example/v1.0/auditLogs/signIns?$top=2&$skiptoken=x": true,
		"https://GRAPH.example/v1.0/auditlogs/signins?$skiptoken=x":        true,
		"https://graph.example.evil/v1.0/auditLogs/signIns?$skiptoken=x":   false,
		"https://evil.example/v1.0/auditLogs/signIns":                      false,
		"https://graph.example:8443/v1.0/auditLogs/signIns":                false,
		"http://graph.example/v1.0/auditLogs/signIns":                      false,
		"https://u:p@graph.example/v1.0/auditLogs/signIns":                 false,
		"https://graph.example/v1.0/users":                                 false,
		"https://graph.example/v1.0/auditLogs/signIns/../../users":         false,
		"https://graph.example/v1.0/auditLogs/signIns#x":                   false,
		"/v1.0/auditLogs/signIns?$skiptoken=x":                             false,
		"//evil.example/v1.0/auditLogs/signIns":                            false,
		"https:graph.example/v1.0/auditLogs/signIns":                       false,
		"https://graph.example\n/v1.0/auditLogs/signIns":                   false,
	} {
		got, err := g.signInsLink(link)
		if ok != (err == nil) || (ok && got != link) {
			t.Errorf("signInsLink(%q) = %q, %v; want ok %v", link, got, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "skiptoken") {
			t.Errorf("the error quotes the query: %v", err)
		}
	}
}

func TestSignInsErrors(t *testing.T) {
	for code, want := range map[string]string{
		"Authentication_MSGraphPermissionMissing":               "permission AuditLog.Read.All",
		"Authorization_RequestDenied":                           "permission AuditLog.Read.All",
		"Authentication_ApplicationHasNoReadAuditLogDataAccess": "permission AuditLog.Read.All",
		"Authentication_ApplicationHasNoDirectoryReadAccess":    "permission Directory.Read.All",
		"Authentication_RequestFromNonPremiumTenantOrB2CTenant": "P1 or P2 license",
	} {
		err := signInsError((&apiError{method: "GET", path: signInsPath, status: http.StatusForbidden, code: code}).classify(permReadSignIns))
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), code) {
			t.Errorf("%s: %v", code, err)
		}
		if errors.Is(err, connectors.ErrCredentials) == strings.Contains(want, "license") {
			t.Errorf("%s: ErrCredentials is %v", code, errors.Is(err, connectors.ErrCredentials))
		}
	}
	other := (&apiError{status: http.StatusServiceUnavailable}).classify(permReadSignIns)
	if err := signInsError(other); err.Error() != other.Error() || !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("a 503: %v", err)
	}

	// The fake without a premium license.
	srv := graphserver.New(graphserver.Options{NoPremiumLicense: true})
	defer srv.Close()
	srv.RegisterApp(clientID, secret, nil, signInRoles)
	e, q := signInEnv(t, envOpts{})
	q.System = q.System.DeepCopy()
	q.System.Spec.Entra.TenantID, q.System.Spec.Entra.AuthorityHost, q.System.Spec.Entra.GraphEndpoint = srv.TenantID(), srv.URL(), srv.URL()
	if _, err := e.c.ReadSignIns(context.Background(), q); err == nil || !strings.Contains(err.Error(), "P1 or P2 license") {
		t.Fatalf("no premium license: %v", err)
	}
}
