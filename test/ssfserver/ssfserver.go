// Package ssfserver is a stateful fake OpenID Shared Signals Framework
// (SSF 1.0) transmitter, for testing a receiver. It was written from the SSF
// 1.0 specification (transmitter configuration metadata §7, stream
// management §8), RFC 8935 (push delivery of SETs) and RFC 8936 (poll
// delivery of SETs), not from any vendor's code.
//
// The fake serves HTTPS from an httptest TLS server. A test creates streams
// through the management API (as the receiver under test would), queues
// events with Emit, and then asserts on state: Delivered, Rejected, Pending,
// Failed, Stream, Requests.
//
// Choices where the specification leaves room:
//
//   - One receiver, authenticated with "Authorization: Bearer <Options.Token>"
//     (authorization_schemes lists RFC 6750). A missing or wrong token is
//     answered 401.
//   - A receiver may own many streams, unless Options.SingleStream is set;
//     then creating a second stream is answered 409 Conflict.
//   - Stream management errors carry the RFC 8935/8936 error body
//     {"err": ..., "description": ...}; SSF 1.0 fixes only their status codes.
//   - The delivery method defaults to poll when the create request has none.
//     For poll the transmitter supplies endpoint_url (/poll/{stream_id}).
//   - aud is transmitter-supplied: Options.Audience for every stream.
//   - A paused stream holds its events and delivers them when enabled again;
//     a disabled stream drops the events it holds and any new ones (SSF 1.0
//     §8.1.2). Verification SETs are queued like other events.
//   - Push delivery is in order, one SET at a time per stream: a SET that
//     cannot be delivered blocks those behind it until it is delivered,
//     rejected, or given up after Options.MaxAttempts (then it is Failed).
package ssfserver

import (
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"k8s.io/utils/clock"
)

// Delivery method URNs (SSF 1.0 §6.1).
const (
	// MethodPush is RFC 8935 push delivery.
	MethodPush = "urn:ietf:rfc:8935"
	// MethodPoll is RFC 8936 poll delivery.
	MethodPoll = "urn:ietf:rfc:8936"
)

// Stream statuses (SSF 1.0 §8.1.2.1).
const (
	// StatusEnabled: the transmitter delivers events.
	StatusEnabled = "enabled"
	// StatusPaused: the transmitter holds events for later delivery.
	StatusPaused = "paused"
	// StatusDisabled: the transmitter neither delivers nor holds events.
	StatusDisabled = "disabled"
)

// Endpoint paths.
const (
	PathConfiguration = "/.well-known/ssf-configuration"
	PathJWKS          = "/jwks"
	PathStream        = "/ssf/stream"
	PathStatus        = "/ssf/status"
	PathAddSubject    = "/ssf/subjects/add"
	PathRemoveSubject = "/ssf/subjects/remove"
	PathVerify        = "/ssf/verify"
	PathPoll          = "/poll/" // followed by the stream id
)

// DefaultToken is the bearer token accepted when Options.Token is empty.
const DefaultToken = "ssf-test-token"

// Options configure a Server. The zero value is usable.
type Options struct {
	// Token is the receiver's bearer token; default DefaultToken.
	Token string
	// Audience is the "aud" of every stream and SET; default
	// "https://receiver.example.test/".
	Audience string
	// EventsSupported are the event types the transmitter can send; default
	// every CAEP 1.0 and RISC 1.0 event type of internal/ssf.
	EventsSupported []string
	// RequireSubjects makes streams carry events only for subjects added
	// with add_subject (default_subjects "NONE"); otherwise every subject
	// is included ("ALL").
	RequireSubjects bool
	// SingleStream allows one stream per receiver: a second create is 409.
	SingleStream bool
	// MaxAttempts bounds push attempts per SET; default 8.
	MaxAttempts int
	// RetryBackoff is the wait after the first failed push attempt, doubled
	// after each further one up to MaxBackoff; defaults 20ms and 500ms.
	RetryBackoff time.Duration
	// MaxBackoff caps the wait between push attempts.
	MaxBackoff time.Duration
	// PushClient makes push requests; default a client with a 5s timeout.
	PushClient *http.Client
	// LongPollTimeout bounds how long a poll request waits for events when
	// returnImmediately is false; default 1s.
	LongPollTimeout time.Duration
	// MaxPollEvents bounds the SETs in one poll response; default 100.
	MaxPollEvents int
	// Clock gives iat and times backoff and long polls; default real time.
	Clock clock.Clock
}

// Server is a running fake SSF transmitter.
type Server struct {
	ts   *httptest.Server
	opts Options
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	keys     []jwk.Key // private keys in publication order; the last signs
	keySeq   int
	streams  map[string]*stream
	order    []string // stream ids in creation order
	requests map[string]int
	down     bool
	closed   bool
}

// New starts a fake transmitter with one signing key. Close it when done.
func New(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	s := &Server{
		opts:     opts,
		done:     make(chan struct{}),
		streams:  map[string]*stream{},
		requests: map[string]int{},
	}
	if _, err := s.RotateKey(); err != nil {
		return nil, err
	}
	s.ts = httptest.NewTLSServer(s.routes())
	return s, nil
}

func withDefaults(opts Options) Options {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Audience == "" {
		opts.Audience = "https://receiver.example.test/"
	}
	if opts.EventsSupported == nil {
		opts.EventsSupported = defaultEvents()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 20 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 500 * time.Millisecond
	}
	if opts.PushClient == nil {
		opts.PushClient = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.LongPollTimeout <= 0 {
		opts.LongPollTimeout = time.Second
	}
	if opts.MaxPollEvents <= 0 {
		opts.MaxPollEvents = 100
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return opts
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.handle(mux, "GET "+PathConfiguration, false, s.serveConfiguration)
	s.handle(mux, "GET "+PathJWKS, false, s.serveJWKS)
	s.handle(mux, "POST "+PathStream, true, s.createStream)
	s.handle(mux, "GET "+PathStream, true, s.readStream)
	s.handle(mux, "PATCH "+PathStream, true, s.updateStream)
	s.handle(mux, "PUT "+PathStream, true, s.replaceStream)
	s.handle(mux, "DELETE "+PathStream, true, s.deleteStream)
	s.handle(mux, "GET "+PathStatus, true, s.readStatus)
	s.handle(mux, "POST "+PathStatus, true, s.updateStatus)
	s.handle(mux, "POST "+PathAddSubject, true, s.addSubject)
	s.handle(mux, "POST "+PathRemoveSubject, true, s.removeSubject)
	s.handle(mux, "POST "+PathVerify, true, s.verify)
	s.handle(mux, "POST "+PathPoll+"{stream_id}", true, s.poll)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "no endpoint at "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.Method+" "+r.URL.Path]++
		down := s.down
		s.mu.Unlock()
		if down {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, "transmitter is down")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// handle registers h at pattern, behind bearer-token authorization if auth.
func (s *Server) handle(mux *http.ServeMux, pattern string, auth bool, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if auth && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ssf"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "missing or invalid bearer token")
			return
		}
		h(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	want := "Bearer " + s.opts.Token
	got := r.Header.Get("Authorization")
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// URL is the transmitter's base URL, such as https://127.0.0.1:41234.
func (s *Server) URL() string { return s.ts.URL }

// Issuer is the "iss" of every SET and the configuration's issuer: URL().
func (s *Server) Issuer() string { return s.ts.URL }

// Token is the bearer token the management endpoints accept.
func (s *Server) Token() string { return s.opts.Token }

// Audience is the "aud" of every stream and SET.
func (s *Server) Audience() string { return s.opts.Audience }

// Client is an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CertificatePEM is the server's certificate in PEM, for a CA bundle.
func (s *Server) CertificatePEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw}))
}

// CertPool holds the server's certificate, for a client built elsewhere.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.ts.Certificate())
	return pool
}

// SetDown makes every endpoint answer 503 (down) or serve again. Push
// delivery, which the transmitter initiates, goes on.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests is how many requests reached method and path (such as
// "POST", "/poll/abc"), including refused ones.
func (s *Server) Requests(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method+" "+path]
}

// Close stops push delivery and long polls, then the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.wg.Wait()
	s.ts.Close()
}
