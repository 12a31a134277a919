package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// Path is where the server takes sign-ins.
const Path = "/v1/signins"

// DefaultMaxBodyBytes bounds a request's body: 8 MiB.
const DefaultMaxBodyBytes = 8 << 20

// Server serves POST /v1/signins. Every replica listens, so a Service can
// route to any of them, but only the elected leader ingests: one ingester
// owns the shared-infrastructure index and the writes. The others answer
// 503 with Retry-After, and clients send the request again.
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
	// Metrics, when set, count requests, events and Finding writes.
	Metrics *metrics.Metrics
	// WaitForSync blocks until the manager's cache has synced.
	WaitForSync func(context.Context) bool
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// Elected is closed when this replica becomes the leader; nil means
	// it always is (no leader election).
	Elected <-chan struct{}
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
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, func(w http.ResponseWriter, r *http.Request) {
		code := s.serve(w, r, log)
		if s.Metrics != nil {
			s.Metrics.IngestRequests.WithLabelValues(fmt.Sprint(code)).Inc()
		}
	})
	return mux
}

type errorBody struct {
	Error string `json:"error"`
	// Result is what was done before a failure, when anything was.
	*signals.Result `json:",omitempty"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, log logr.Logger) int {
	ctx := r.Context()
	if !s.leading() {
		w.Header().Set("Retry-After", "1")
		return reply(w, http.StatusServiceUnavailable, errorBody{Error: "this replica is not the leader: send the request again"})
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis"`)
		return reply(w, http.StatusUnauthorized, errorBody{Error: "send a bearer token: Authorization: Bearer <token>"})
	}
	valid, err := s.Tokens.Valid(ctx, strings.TrimSpace(token))
	if err != nil {
		log.Error(err, "Cannot check ingest tokens")
		return reply(w, http.StatusServiceUnavailable, errorBody{Error: "the tokens cannot be checked now; try again later"})
	}
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis", error="invalid_token"`)
		return reply(w, http.StatusUnauthorized, errorBody{Error: "the bearer token is not valid"})
	}
	limit := s.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return reply(w, http.StatusRequestEntityTooLarge, errorBody{
				Error: fmt.Sprintf("the body is larger than %d bytes: send fewer events per request", limit)})
		}
		return reply(w, http.StatusBadRequest, errorBody{Error: "reading the body: " + err.Error()})
	}
	res, err := s.Ingester.Ingest(ctx, body)
	s.count(res)
	switch {
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
