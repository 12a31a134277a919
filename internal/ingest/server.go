package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// Path is where the server takes sign-ins.
const Path = "/v1/signins"

// Server serves POST /v1/signins. Every replica listens, so a Service can
// route to any of them, but only the elected leader ingests: one ingester
// owns the shared-infrastructure index and the writes. The others answer
// 503 with Retry-After, and clients send the request again.
//
// The endpoint is bounded whatever clients send: each token gets Rate
// requests a second (429 with Retry-After beyond it); at most
// MaxConcurrentRequests requests, holding at most MaxInflightBytes of body
// between them, are read or ingested at once (503 with Retry-After beyond
// them, after a short wait); and a body is decoded one event at a time,
// never read whole, and refused with 413 as soon as it passes MaxBodyBytes.
type Server struct {
	// Addr is the listen address, e.g. ":8082".
	Addr string
	// CertFile and KeyFile serve TLS when both are set.
	CertFile, KeyFile string
	Ingester          *signals.Ingester
	// Enricher, when set, is closed when the server stops.
	Enricher *signals.Enricher
	Tokens   *Tokens
	// MaxBodyBytes bounds a request's body; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxConcurrentRequests caps the requests read or ingested at once;
	// default DefaultMaxConcurrentRequests.
	MaxConcurrentRequests int
	// MaxInflightBytes caps the body bytes of the requests admitted at
	// once: a request counts its Content-Length, or MaxBodyBytes when it
	// has none. Default DefaultMaxInflightBytes; never below MaxBodyBytes.
	MaxInflightBytes int64
	// Rate is the requests per second each token may send on average, and
	// Burst how many it may send at once; default DefaultRate and
	// DefaultBurst. A negative Rate turns the limit off.
	Rate  float64
	Burst int
	// BodyTimeout bounds how long an admitted request may take to send its
	// body, so that a slow sender cannot keep a slot; default
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// AdmissionWait is how long a request waits for the caps to free
	// before it gets 503; default DefaultAdmissionWait, negative for none.
	AdmissionWait time.Duration
	// Clock times the rate limits; default the real clock.
	Clock clock.PassiveClock
	// Metrics, when set, count requests, events and Finding writes.
	Metrics *metrics.Metrics
	// WaitForSync blocks until the manager's cache has synced.
	WaitForSync func(context.Context) bool
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// Elected is closed when this replica becomes the leader; nil means
	// it always is (no leader election).
	Elected <-chan struct{}

	limitsOnce sync.Once
	admission  *admission
	perToken   *tokenLimits
}

// NeedLeaderElection is false: every replica listens, the leader ingests.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens and serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("ingest")
	if s.Enricher != nil {
		defer func() { _ = s.Enricher.Close() }()
	}
	if s.WaitForSync != nil && !s.WaitForSync(ctx) {
		return errors.New("ingest: the cache did not sync")
	}
	l := s.Listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", s.Addr); err != nil {
			return fmt.Errorf("ingest: listening on %s: %w", s.Addr, err)
		}
	}
	srv := &http.Server{Handler: s.Handler(log), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() {
		if s.CertFile != "" && s.KeyFile != "" {
			errc <- srv.ServeTLS(l, s.CertFile, s.KeyFile)
		} else {
			errc <- srv.Serve(l)
		}
	}()
	log.Info("Serving sign-ins", "address", l.Addr().String(), "path", Path, "tls", s.CertFile != "")
	select {
	case err := <-errc:
		return fmt.Errorf("ingest: serving: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// Handler returns the HTTP handler of the endpoint.
func (s *Server) Handler(log logr.Logger) http.Handler {
	s.limitsOnce.Do(s.initLimits)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, func(w http.ResponseWriter, r *http.Request) {
		code := s.serve(w, r, log)
		if s.Metrics != nil {
			s.Metrics.IngestRequests.WithLabelValues(fmt.Sprint(code)).Inc()
		}
	})
	return mux
}

// initLimits fills in the defaults and builds the limiters.
func (s *Server) initLimits() {
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxConcurrentRequests <= 0 {
		s.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if s.MaxInflightBytes <= 0 {
		s.MaxInflightBytes = DefaultMaxInflightBytes
	}
	s.MaxInflightBytes = max(s.MaxInflightBytes, s.MaxBodyBytes)
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if s.Burst <= 0 {
		s.Burst = DefaultBurst
	}
	if s.BodyTimeout <= 0 {
		s.BodyTimeout = DefaultBodyTimeout
	}
	if s.AdmissionWait == 0 {
		s.AdmissionWait = DefaultAdmissionWait
	}
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	s.admission = newAdmission(s.MaxConcurrentRequests, s.MaxInflightBytes, s.AdmissionWait)
	s.perToken = newTokenLimits(s.Rate, s.Burst)
}

type errorBody struct {
	Error string `json:"error"`
	// Result is what was done before a failure, when anything was.
	*signals.Result `json:",omitempty"`
}

// serve checks, in order of cost: leadership, the token, the token's rate,
// the declared size and the caps; only then is the body read.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, log logr.Logger) int {
	if !s.leading() {
		// Close the connection, so that the client's next try opens a new
		// one, which a Service may send to the leader.
		w.Header().Set("Connection", "close")
		return retryLater(w, http.StatusServiceUnavailable, time.Second, "this replica is not the leader: send the request again")
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis"`)
		return reply(w, http.StatusUnauthorized, errorBody{Error: "send a bearer token: Authorization: Bearer <token>"})
	}
	given, valid, ok, err := s.Tokens.check(r.Context(), strings.TrimSpace(token))
	if err != nil {
		log.Error(err, "Cannot check ingest tokens")
		return retryLater(w, http.StatusServiceUnavailable, time.Second, "the tokens cannot be checked now; try again later")
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis", error="invalid_token"`)
		return reply(w, http.StatusUnauthorized, errorBody{Error: "the bearer token is not valid"})
	}
	if wait := s.perToken.reserve(given, valid, s.Clock.Now()); wait > 0 {
		return retryLater(w, http.StatusTooManyRequests, wait,
			fmt.Sprintf("this token may send %g requests a second (%d at once): send fewer, larger batches", s.Rate, s.Burst))
	}
	if r.ContentLength > s.MaxBodyBytes {
		return s.tooLarge(w)
	}
	size := s.MaxBodyBytes
	if r.ContentLength >= 0 {
		size = r.ContentLength
	}
	release, ok := s.admission.admit(r.Context(), given, size)
	if !ok {
		return retryLater(w, http.StatusServiceUnavailable, time.Second, "the endpoint is busy with other requests: send the request again")
	}
	defer release()
	return s.ingest(w, r, log)
}

// ingest decodes the body as a stream and ingests its events.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, log logr.Logger) int {
	// A slow body would keep its slot: it has BodyTimeout to arrive. Not
	// every connection supports deadlines (HTTP/2 streams do, as do TCP
	// connections); without one, the server's ReadTimeout still bounds it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.BodyTimeout))
	res, err := s.Ingester.IngestFrom(r.Context(), http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	s.count(res)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return s.tooLarge(w)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return reply(w, http.StatusRequestTimeout, errorBody{
			Error: fmt.Sprintf("the body did not arrive within %s: send smaller batches, or faster", s.BodyTimeout)})
	case errors.Is(err, signals.ErrTooManyEvents):
		return reply(w, http.StatusRequestEntityTooLarge, errorBody{Error: err.Error() + ": send fewer events per request"})
	case errors.Is(err, signals.ErrBadRequest):
		return reply(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case err != nil:
		log.Error(err, "Storing sign-ins failed part way", "accepted", res.Accepted)
		return reply(w, http.StatusServiceUnavailable, errorBody{
			Error:  err.Error() + "; send the same request again: what was stored is recognised and not counted twice",
			Result: &res})
	}
	return reply(w, http.StatusOK, res)
}

func (s *Server) tooLarge(w http.ResponseWriter) int {
	return reply(w, http.StatusRequestEntityTooLarge, errorBody{
		Error: fmt.Sprintf("the body is larger than %d bytes: send fewer events per request", s.MaxBodyBytes)})
}

// retryLater answers code with a Retry-After of wait, in whole seconds
// and at least one.
func retryLater(w http.ResponseWriter, code int, wait time.Duration, msg string) int {
	w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(wait, time.Second).Seconds())), 10))
	return reply(w, code, errorBody{Error: msg})
}

func (s *Server) leading() bool {
	if s.Elected == nil {
		return true
	}
	select {
	case <-s.Elected:
		return true
	default:
		return false
	}
}

func (s *Server) count(res signals.Result) {
	if s.Metrics == nil {
		return
	}
	s.Metrics.SignIns.WithLabelValues("accepted").Add(float64(res.Accepted))
	s.Metrics.SignIns.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	s.Metrics.SignIns.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
	s.Metrics.FindingWrites.WithLabelValues("created").Add(float64(res.FindingsCreated))
	s.Metrics.FindingWrites.WithLabelValues("updated").Add(float64(res.FindingsUpdated))
}

func reply(w http.ResponseWriter, code int, body any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
	return code
}
