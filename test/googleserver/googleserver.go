// Package googleserver is a stateful fake of Google Workspace's Admin SDK
// (Directory API users/groups/members, Reports API login activities) and of
// Google's OAuth 2.0 token endpoint for service accounts with domain-wide
// delegation, for tests. It is written from Google's public API reference
// (the admin directory_v1 and reports_v1 discovery documents and the
// developers.google.com guides): the paths, parameters, scopes, resource
// shapes and error bodies follow the reference, so a client that works here
// should work against admin.googleapis.com.
//
// Point a client at URL() for the APIs (the Go client libraries take it as
// option.WithEndpoint(URL()+"/")) and at TokenURL() for the JWT bearer grant;
// use Client() or CertPool() to trust the fake's TLS certificate.
package googleserver

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Domain is the Workspace primary domain; default "example.com".
	Domain string
	// CustomerID is the Workspace customer id; default "C0fake000".
	CustomerID string
	// Now is the server's clock; default time.Now. Token expiry, JWT
	// iat/exp checks, rate limit windows and the Reports API's default
	// endTime use it.
	Now func() time.Time
	// TokenLifetime is the life of an issued access token; default one
	// hour (the token endpoint reports it as expires_in, less a second as
	// Google does).
	TokenLifetime time.Duration
	// UserRateLimit, if positive, is the number of API requests per minute
	// one impersonated user may make; beyond it the API answers 403
	// userRateLimitExceeded (the Directory API's per-user quota).
	UserRateLimit int
	// DomainRateLimit, if positive, is the number of API requests per
	// minute across the whole account; beyond it the API answers 429
	// rateLimitExceeded (the per-Workspace-account limit).
	DomainRateLimit int
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts Options
	http *httptest.Server

	mu       sync.Mutex
	down     bool
	faults   []*fault
	requests map[string]int
	hits     map[string][]time.Time // rate-limit windows: "user:<sub>", "domain"

	accounts map[string]*serviceAccount // by email
	tokens   map[string]*grant          // by access token
	users    map[string]*user           // by id
	groups   map[string]*group          // by id
	acts     []Activity
	nextID   int64
}

type fault struct {
	prefix string
	n      int
	status int
}

// New starts a fake on an httptest TLS server. Close it when done.
func New(opts Options) *Server {
	if opts.Domain == "" {
		opts.Domain = "example.com"
	}
	if opts.CustomerID == "" {
		opts.CustomerID = "C0fake000"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	s := &Server{
		opts:     opts,
		requests: map[string]int{},
		hits:     map[string][]time.Time{},
		accounts: map[string]*serviceAccount{},
		tokens:   map[string]*grant{},
		users:    map[string]*user{},
		groups:   map[string]*group{},
		nextID:   100000000000000000,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.handleToken)
	s.routeDirectory(mux)
	s.routeReports(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
	})
	s.http = httptest.NewTLSServer(s.front(mux))
	return s
}

// URL is the API root, standing in for https://admin.googleapis.com; the
// Directory API is under URL()+"/admin/directory/v1/" and the Reports API
// under URL()+"/admin/reports/v1/".
func (s *Server) URL() string { return s.http.URL }

// TokenURL is the OAuth 2.0 token endpoint, standing in for
// https://oauth2.googleapis.com/token; JWT assertions must name it as aud.
func (s *Server) TokenURL() string { return s.http.URL + "/token" }

// Client returns an HTTP client that trusts the fake's certificate.
func (s *Server) Client() *http.Client { return s.http.Client() }

// CertPool returns a pool holding the fake's certificate.
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

// SetDown makes every endpoint, the token endpoint included, answer 503
// backendError until called again with false.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// InjectFault makes the next n requests whose path starts with pathPrefix
// (for example "/token" or "/admin/directory/v1/groups/") fail with status:
// 429 rateLimitExceeded, 403 userRateLimitExceeded, 500 or 503 backendError,
// in Google's error format. Faults queue up in the order injected.
func (s *Server) InjectFault(pathPrefix string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{prefix: pathPrefix, n: n, status: status})
}

// Requests counts the requests received for method and path (the decoded
// URL path, e.g. "/admin/directory/v1/groups/g@example.com/members"),
// failed ones included.
func (s *Server) Requests(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method+" "+path]
}

// front counts requests and applies SetDown and injected faults before the
// routes see a request.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.Method+" "+r.URL.Path]++
		down := s.down
		status := 0
		if !down {
			status = s.takeFault(r.URL.Path)
		}
		s.mu.Unlock()
		switch {
		case down:
			writeStatus(w, http.StatusServiceUnavailable)
		case status != 0:
			writeStatus(w, status)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// takeFault consumes one injected fault matching path; s.mu is held.
func (s *Server) takeFault(path string) int {
	for i, f := range s.faults {
		if strings.HasPrefix(path, f.prefix) {
			f.n--
			if f.n <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f.status
		}
	}
	return 0
}

// rateLimited counts an API request by sub against the per-minute limits
// and reports the throttling error due, if any; a refused request is not
// counted. s.mu is held.
func (s *Server) rateLimited(sub string) (status int, reason, msg string) {
	now := s.opts.Now()
	window := func(key string) []time.Time {
		kept := s.hits[key][:0]
		for _, t := range s.hits[key] {
			if now.Sub(t) < time.Minute {
				kept = append(kept, t)
			}
		}
		s.hits[key] = kept
		return kept
	}
	userKey := "user:" + sub
	if lim := s.opts.DomainRateLimit; lim > 0 && len(window("domain")) >= lim {
		return http.StatusTooManyRequests, "rateLimitExceeded", "Rate Limit Exceeded"
	}
	if lim := s.opts.UserRateLimit; lim > 0 && len(window(userKey)) >= lim {
		return http.StatusForbidden, "userRateLimitExceeded",
			"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'admin.googleapis.com'."
	}
	if s.opts.DomainRateLimit > 0 {
		s.hits["domain"] = append(s.hits["domain"], now)
	}
	if s.opts.UserRateLimit > 0 {
		s.hits[userKey] = append(s.hits[userKey], now)
	}
	return 0, "", ""
}

// apiError is Google's JSON error envelope ("v1 error format").
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Errors  []errorItem `json:"errors"`
	Status  string      `json:"status"`
}

type errorItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Location     string `json:"location,omitempty"`
	LocationType string `json:"locationType,omitempty"`
}

var statusNames = map[int]string{
	http.StatusBadRequest:          "INVALID_ARGUMENT",
	http.StatusUnauthorized:        "UNAUTHENTICATED",
	http.StatusForbidden:           "PERMISSION_DENIED",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusConflict:            "ALREADY_EXISTS",
	http.StatusPreconditionFailed:  "FAILED_PRECONDITION",
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
}

func writeError(w http.ResponseWriter, code int, reason, msg string) {
	writeErrorItem(w, code, msg, errorItem{Message: msg, Domain: "global", Reason: reason})
}

func writeErrorItem(w http.ResponseWriter, code int, msg string, item errorItem) {
	writeJSON(w, code, apiError{Error: apiErrorBody{
		Code: code, Message: msg, Errors: []errorItem{item}, Status: statusNames[code],
	}})
}

// writeStatus writes the throttling or outage error Google sends for status.
func writeStatus(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeError(w, status, "rateLimitExceeded", "Rate Limit Exceeded")
	case http.StatusForbidden:
		writeError(w, status, "userRateLimitExceeded", "User Rate Limit Exceeded")
	case http.StatusInternalServerError:
		writeError(w, status, "backendError", "Internal error encountered.")
	case http.StatusServiceUnavailable:
		writeError(w, status, "backendError", "Service unavailable. Please try again")
	default:
		writeError(w, status, "backendError", http.StatusText(status))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
