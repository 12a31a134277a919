package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SignalReceiversPath is where the manager mounts SignalReceivers; a push
// stream's endpoint is <receiver URL>/ssf/receive/<SignalStream name>.
const SignalReceiversPath = "/ssf/receive/"

// signalRetryAfter is the Retry-After of a receiver that cannot take SETs now.
const signalRetryAfter = 5 * time.Second

// maxReceiverPath bounds the request path: the prefix and a name of at most
// 253 characters.
const maxReceiverPath = len(SignalReceiversPath) + 253

// SignalReceivers routes pushed SETs (RFC 8935) to the SignalStream they
// were sent to: <mount>/ssf/receive/<name> to that stream's PushHandler.
// Mount it at SignalReceiversPath without stripping the prefix. While no
// SignalStream reconciler runs in this process (a follower without the
// leader lease), it answers 503 with Retry-After, and the transmitter
// delivers the SETs again, to the leader. Safe for concurrent use.
type SignalReceivers struct {
	active atomic.Bool
	mu     sync.RWMutex
	routes map[string]http.Handler
}

// NewSignalReceivers returns an empty registry that answers 503 until the
// SignalStream reconciler starts.
func NewSignalReceivers() *SignalReceivers {
	return &SignalReceivers{routes: map[string]http.Handler{}}
}

// ServeHTTP implements http.Handler.
func (s *SignalReceivers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, SignalReceiversPath)
	if !ok || name == "" || len(r.URL.Path) > maxReceiverPath || strings.Contains(name, "/") {
		receiverError(w, http.StatusNotFound, "not_found", "no SignalStream receives SETs here")
		return
	}
	if !s.active.Load() {
		unavailable(w, "this replica does not receive SETs now; retry")
		return
	}
	s.mu.RLock()
	h := s.routes[name]
	s.mu.RUnlock()
	if h == nil {
		receiverError(w, http.StatusNotFound, "not_found", "no SignalStream receives SETs here")
		return
	}
	h.ServeHTTP(w, r)
}

func (s *SignalReceivers) set(name string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[name] = h
}

func (s *SignalReceivers) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.routes, name)
}

// Start marks the registry active until ctx ends: the manager runs it
// with the reconcilers, on the leader only.
func (s *SignalReceivers) Start(ctx context.Context) error {
	s.active.Store(true)
	<-ctx.Done()
	s.active.Store(false)
	return nil
}

// NeedLeaderElection is true: only the leader receives.
func (s *SignalReceivers) NeedLeaderElection() bool { return true }

func receiverError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"err": code, "description": description})
}

func unavailable(w http.ResponseWriter, description string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(signalRetryAfter/time.Second)))
	receiverError(w, http.StatusServiceUnavailable, "temporarily_unavailable", description)
}

// suspendedReceiver answers every push to a suspended stream 503, so that
// the transmitter holds the SETs.
type suspendedReceiver struct{}

func (suspendedReceiver) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	unavailable(w, "the SignalStream is suspended; retry later")
}

// countingHandler counts the SETs a PushHandler answered: 202 received,
// 400 received and refused.
type countingHandler struct {
	next http.Handler
	run  *streamRun
}

func (c countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	c.next.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusAccepted:
		c.run.counted(1, 0)
	case http.StatusBadRequest:
		c.run.counted(1, 1)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
