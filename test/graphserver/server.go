// Package graphserver is a stateful fake of Microsoft Entra ID for tests: the
// Microsoft identity platform token endpoint (OAuth 2.0 client credentials
// with a client secret or a certificate-signed client assertion) and the
// slice of Microsoft Graph v1.0 that an access connector and a sign-in
// source use (users, groups, group members, revokeSignInSessions,
// auditLogs/signIns, organization).
//
// It is written from Microsoft's public API reference, not from a recording:
// paths, methods, status codes, permission tables (application permissions,
// least privileged first), paging with @odata.nextLink and error bodies follow
// the reference; see the README-style notes on each handler.
//
// One TLS server plays both hosts. Point the authority
// (https://login.microsoftonline.com) and the Graph base
// (https://graph.microsoft.com) at URL(); the token endpoint is
// URL()+"/{tenant}/oauth2/v2.0/token" and Graph lives under URL()+"/v1.0".
package graphserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// GraphAppID is the well-known application id of Microsoft Graph; a scope of
// GraphAppID+"/.default" is accepted like https://graph.microsoft.com/.default,
// as is the server's own URL()+"/.default".
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Options configures a Server. The zero value is usable.
type Options struct {
	// TenantID is the directory (tenant) id; a random GUID when empty.
	TenantID string
	// TenantDomain is the tenant's initial domain, also accepted in the token
	// endpoint path; "contoso.onmicrosoft.com" when empty.
	TenantDomain string
	// NoPremiumLicense makes auditLogs/signIns answer 403
	// Authentication_RequestFromNonPremiumTenantOrB2CTenant, as a tenant
	// without Microsoft Entra ID P1/P2 does.
	NoPremiumLicense bool
	// NoP2License makes sign-ins report riskDetail, riskLevelAggregated and
	// riskLevelDuringSignIn as "hidden", as for a tenant with P1 but not P2.
	NoP2License bool
	// TokenLifetime is the access token lifetime; 1h (expires_in 3599) when 0.
	TokenLifetime time.Duration
	// Now is the server clock; time.Now when nil.
	Now func() time.Time
	// RetryAfter is the Retry-After (seconds) sent with forced 429/503 answers
	// and while down; 2 when 0.
	RetryAfter int
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	http   *httptest.Server
	key    *rsa.PrivateKey
	keyID  string
	tenant string
	domain string

	mu       sync.Mutex
	apps     map[string]*app
	users    map[string]*user // by id
	groups   map[string]*group
	signIns  []SignIn
	down     bool
	forced   map[string][]int // path -> statuses to answer next
	budgets  map[string]*budget
	requests map[string]int // "METHOD path" -> count
}

// New starts a server; Close it when done.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = 2
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("graphserver: generating signing key: %v", err))
	}
	s := &Server{
		opts:     opts,
		key:      key,
		keyID:    newGUID(),
		tenant:   opts.TenantID,
		domain:   opts.TenantDomain,
		apps:     map[string]*app{},
		users:    map[string]*user{},
		groups:   map[string]*group{},
		forced:   map[string][]int{},
		budgets:  map[string]*budget{},
		requests: map[string]int{},
	}
	if s.tenant == "" {
		s.tenant = newGUID()
	}
	if s.domain == "" {
		s.domain = "contoso.onmicrosoft.com"
	}
	s.http = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL of both hosts, e.g. https://127.0.0.1:port.
func (s *Server) URL() string { return s.http.URL }

// GraphURL is the Graph v1.0 base URL: URL()+"/v1.0".
func (s *Server) GraphURL() string { return s.http.URL + "/v1.0" }

// TokenURL is the tenant's v2.0 token endpoint, the audience a client
// assertion must name.
func (s *Server) TokenURL() string {
	return s.http.URL + "/" + s.tenant + "/oauth2/v2.0/token"
}

// TenantID is the directory (tenant) id.
func (s *Server) TenantID() string { return s.tenant }

// Client is an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.http.Client() }

// CertPool holds the server's TLS certificate.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.http.Certificate())
	return pool
}

// CertificatePEM is the server's certificate, PEM, for a caBundle.
func (s *Server) CertificatePEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.http.Certificate().Raw}))
}

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// SetDown makes every request (token endpoint included) answer 503 with
// Retry-After, as during an outage, or recover.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests counts the requests received for method and URL path (query
// excluded), e.g. Requests("POST", "/v1.0/groups/{id}/members/$ref").
func (s *Server) Requests(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method+" "+path]
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reqID := newGUID()
	w.Header().Set("request-id", reqID)
	clientReqID := r.Header.Get("client-request-id")
	if clientReqID == "" {
		clientReqID = reqID
	}
	w.Header().Set("client-request-id", clientReqID)
	w.Header().Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Fake","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"FAKE0001"}}`)
	rc := &reqCtx{s: s, w: w, r: r, reqID: reqID, clientReqID: clientReqID}

	s.mu.Lock()
	s.requests[r.Method+" "+r.URL.Path]++
	down := s.down
	forced := s.popForced(r.URL.Path)
	s.mu.Unlock()

	isToken := strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token")
	switch {
	case down:
		rc.fail(http.StatusServiceUnavailable, isToken)
		return
	case forced != 0:
		rc.fail(forced, isToken)
		return
	case isToken:
		s.handleToken(rc)
		return
	case strings.HasPrefix(r.URL.Path, "/v1.0/"):
		s.handleGraph(rc)
		return
	}
	rc.graphError(http.StatusBadRequest, "BadRequest", "Invalid version.")
}

// reqCtx carries one request and its response helpers.
type reqCtx struct {
	s           *Server
	w           http.ResponseWriter
	r           *http.Request
	reqID       string
	clientReqID string
	app         *tokenClaims // set once the bearer token is accepted
}

const graphJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func (rc *reqCtx) json(status int, v any) {
	rc.w.Header().Set("Content-Type", graphJSON)
	rc.w.WriteHeader(status)
	_ = json.NewEncoder(rc.w).Encode(v)
}

// graphError writes Graph's error body:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
func (rc *reqCtx) graphError(status int, code, message string) {
	rc.json(status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              rc.s.now().Format("2006-01-02T15:04:05"),
			"request-id":        rc.reqID,
			"client-request-id": rc.clientReqID,
		},
	}})
}

// fail answers a forced, throttled or outage status in the right dialect.
func (rc *reqCtx) fail(status int, isToken bool) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		rc.w.Header().Set("Retry-After", fmt.Sprint(rc.s.opts.RetryAfter))
	}
	if isToken {
		rc.tokenError(status, "temporarily_unavailable", 90033,
			"A transient error has occurred. Please try again.")
		return
	}
	switch status {
	case http.StatusTooManyRequests:
		rc.graphError(status, "TooManyRequests", "Too many requests. Please retry after the number of seconds in the Retry-After header.")
	case http.StatusServiceUnavailable:
		rc.graphError(status, "serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, the length of which may be specified in a Retry-After header.")
	case http.StatusGatewayTimeout:
		rc.graphError(status, "timeout", "The server, while acting as a proxy, did not receive a timely response from the upstream server it needed to access in attempting to complete the request.")
	default:
		rc.graphError(status, "UnknownError", "")
	}
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
