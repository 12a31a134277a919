// Package oktaserver is a stateful fake of the parts of Okta's Management API
// (v1) and org authorization server that an access-policy connector and a
// System Log sign-in source use. It was written from Okta's public API
// reference (the okta-management-openapi-spec "management" and "oauth"
// documents, the rate-limit and System Log query guides), not from Okta code.
//
// The fake serves HTTPS from an httptest TLS server. Tests seed state
// (users, groups, memberships, sessions, log events), point the code under
// test at URL() with Client() or CertPool(), and then assert on state
// (Members, UserStatus, Sessions, ...) rather than on the calls made.
//
// Authentication is the two ways Okta offers a service: an API token
// ("Authorization: SSWS <token>", all permissions) or an OAuth 2.0 access
// token from the client-credentials grant with private_key_jwt client
// authentication ("Authorization: Bearer <token>", limited to its scopes).
//
// DPoP is not modelled: access tokens are always Bearer tokens, a "DPoP"
// Authorization scheme is rejected like any unknown scheme, and DPoP proof
// headers on the token request are ignored.
package oktaserver

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Routes, as ServeMux patterns. They name an endpoint in RateLimits,
// FailNext and Requests.
const (
	RouteToken             = "POST /oauth2/v1/token"
	RouteOrg               = "GET /api/v1/org"
	RouteMe                = "GET /api/v1/users/me"
	RouteListUsers         = "GET /api/v1/users"
	RouteGetUser           = "GET /api/v1/users/{id}"
	RouteSuspend           = "POST /api/v1/users/{id}/lifecycle/suspend"
	RouteUnsuspend         = "POST /api/v1/users/{id}/lifecycle/unsuspend"
	RouteClearSessions     = "DELETE /api/v1/users/{userId}/sessions"
	RouteListGroups        = "GET /api/v1/groups"
	RouteGetGroup          = "GET /api/v1/groups/{groupId}"
	RouteListGroupMembers  = "GET /api/v1/groups/{groupId}/users"
	RouteAddGroupMember    = "PUT /api/v1/groups/{groupId}/users/{userId}"
	RouteRemoveGroupMember = "DELETE /api/v1/groups/{groupId}/users/{userId}"
	RouteLogs              = "GET /api/v1/logs"
)

// Okta OAuth 2.0 scopes for the modelled endpoints. A ".manage" scope also
// grants the matching ".read" access.
const (
	ScopeUsersRead    = "okta.users.read"
	ScopeUsersManage  = "okta.users.manage"
	ScopeGroupsRead   = "okta.groups.read"
	ScopeGroupsManage = "okta.groups.manage"
	ScopeLogsRead     = "okta.logs.read"
	ScopeOrgsRead     = "okta.orgs.read"
)

// Client is an OAuth 2.0 service app that authenticates with private_key_jwt.
type Client struct {
	ID        string
	PublicKey *rsa.PublicKey
	// Scopes are the Okta API scopes granted to the app; a token request
	// for any other scope fails with invalid_scope.
	Scopes []string
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// APIToken, if set, is accepted as "Authorization: SSWS <APIToken>".
	APIToken string
	// Clients are registered OAuth service apps.
	Clients []Client
	// RateLimits is the request budget per route (a Route* constant) per
	// RateLimitWindow; routes not listed get DefaultRateLimit.
	RateLimits map[string]int
	// DefaultRateLimit defaults to 600.
	DefaultRateLimit int
	// RateLimitWindow defaults to one minute, as Okta's limits are per minute.
	RateLimitWindow time.Duration
	// AccessTokenTTL defaults to one hour (expires_in 3600).
	AccessTokenTTL time.Duration
	// Now is the clock; it defaults to time.Now.
	Now func() time.Time
}

// DownMode is how a down server fails requests.
type DownMode int

const (
	// DownUnavailable answers every request with 503.
	DownUnavailable DownMode = iota
	// DownHangup closes the connection without a response.
	DownHangup
)

// Server is a running fake Okta org.
type Server struct {
	ts   *httptest.Server
	opts Options

	mu        sync.Mutex
	users     []*user // creation order
	groups    []*group
	events    []*storedEvent
	eventSeq  int64
	apiTokens map[string]string // token -> owner user id ("" for none)
	clients   map[string]Client
	tokens    map[string]accessToken
	usedJTIs  map[string]time.Time
	limits    map[string]*window
	faults    map[string][]int
	requests  map[string]int
	down      bool
	downMode  DownMode
}

// New starts a fake org. Close it when done.
func New(opts Options) *Server {
	if opts.DefaultRateLimit <= 0 {
		opts.DefaultRateLimit = 600
	}
	if opts.RateLimitWindow <= 0 {
		opts.RateLimitWindow = time.Minute
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:      opts,
		apiTokens: map[string]string{},
		clients:   map[string]Client{},
		tokens:    map[string]accessToken{},
		usedJTIs:  map[string]time.Time{},
		limits:    map[string]*window{},
		faults:    map[string][]int{},
		requests:  map[string]int{},
	}
	if opts.APIToken != "" {
		s.apiTokens[opts.APIToken] = ""
	}
	for _, c := range opts.Clients {
		s.clients[c.ID] = c
	}
	s.ts = httptest.NewTLSServer(s.routes())
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.handle(mux, RouteToken, nil, s.token)
	s.handle(mux, RouteOrg, []string{ScopeOrgsRead}, s.getOrg)
	s.handle(mux, RouteMe, []string{ScopeUsersRead, ScopeUsersManage}, s.getMe)
	s.handle(mux, RouteListUsers, []string{ScopeUsersRead, ScopeUsersManage}, s.listUsers)
	s.handle(mux, RouteGetUser, []string{ScopeUsersRead, ScopeUsersManage}, s.getUser)
	s.handle(mux, RouteSuspend, []string{ScopeUsersManage}, s.suspend)
	s.handle(mux, RouteUnsuspend, []string{ScopeUsersManage}, s.unsuspend)
	s.handle(mux, RouteClearSessions, []string{ScopeUsersManage}, s.clearSessions)
	s.handle(mux, RouteListGroups, []string{ScopeGroupsRead, ScopeGroupsManage}, s.listGroups)
	s.handle(mux, RouteGetGroup, []string{ScopeGroupsRead, ScopeGroupsManage}, s.getGroup)
	s.handle(mux, RouteListGroupMembers, []string{ScopeGroupsRead, ScopeGroupsManage}, s.listGroupMembers)
	s.handle(mux, RouteAddGroupMember, []string{ScopeGroupsManage}, s.addGroupMember)
	s.handle(mux, RouteRemoveGroupMember, []string{ScopeGroupsManage}, s.removeGroupMember)
	s.handle(mux, RouteLogs, []string{ScopeLogsRead}, s.listLogs)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, errNotFound, "Not found: Resource not found: "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.failIfDown(w) {
			return
		}
		w.Header().Set("X-Okta-Request-Id", randomID("", 27))
		mux.ServeHTTP(w, r)
	})
}

// handle registers h at route behind the shared pipeline: forced faults,
// rate limit, authentication and scope check. A nil scopes means the route
// does its own client authentication (the token endpoint).
func (s *Server) handle(mux *http.ServeMux, route string, scopes []string, h http.HandlerFunc) {
	mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[route]++
		s.mu.Unlock()
		if s.applyFault(w, route) || !s.takeRateLimit(w, route) {
			return
		}
		if scopes != nil && !s.authorize(w, r, scopes) {
			return
		}
		h(w, r)
	})
}

// URL is the org URL, such as https://127.0.0.1:41234.
func (s *Server) URL() string { return s.ts.URL }

// Client is an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CertPool holds the server's certificate, for a client built elsewhere.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.ts.Certificate())
	return pool
}

// CertificatePEM is the server's certificate, PEM, for a caBundle.
func (s *Server) CertificatePEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw}))
}

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// TokenURL is the org authorization server's token endpoint, the audience a
// client assertion must name.
func (s *Server) TokenURL() string { return s.ts.URL + "/oauth2/v1/token" }

// AddAPIToken accepts token as an SSWS API token. ownerID, which may be
// empty, is the user GET /api/v1/users/me returns for it.
func (s *Server) AddAPIToken(token, ownerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiTokens[token] = ownerID
}

// RegisterClient registers (or replaces) an OAuth service app that signs
// client assertions with the private key of pub and may be granted scopes.
func (s *Server) RegisterClient(clientID string, pub *rsa.PublicKey, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = Client{ID: clientID, PublicKey: pub, Scopes: scopes}
}

// Requests is how many requests reached route, including rejected ones.
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

func (s *Server) now() time.Time { return s.opts.Now() }
