package ssf

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of a PushHandler.
const (
	// DefaultMaxConcurrent bounds the SETs a PushHandler handles at once.
	DefaultMaxConcurrent = 16
	// DefaultSinkTimeout bounds verification and the sink for one request.
	DefaultSinkTimeout = 10 * time.Second
	// DefaultRetryAfter is the Retry-After of a 503 answer.
	DefaultRetryAfter = 5 * time.Second
)

// ContentTypeSecEventJWT is the media type of a pushed SET (RFC 8935 §2).
const ContentTypeSecEventJWT = "application/" + TypeSecEventJWT

// Sink acts on the SETs a receiver accepted. Receive returns nil once the SET
// is acted on (or durably queued); an error makes the receiver answer with a
// retryable status so that the transmitter delivers the SET again.
type Sink interface {
	// Receive acts on a verified SET.
	Receive(ctx context.Context, set *SET) error
}

// PushConfig configures a PushHandler. Verifier, Sink and Token are required.
type PushConfig struct {
	// Verifier verifies each SET and records accepted jtis.
	Verifier *Verifier
	// Sink receives each accepted SET.
	Sink Sink
	// Token is the bearer token the transmitter sends in the Authorization
	// header (its stream's authorization_header). Never logged.
	Token string
	// MaxConcurrent bounds the requests handled at once; beyond it a request
	// is answered 503. Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Timeout bounds verification (a JWKS fetch) and the sink for one
	// request. Default DefaultSinkTimeout.
	Timeout time.Duration
	// RetryAfter is sent with every 503 answer, rounded up to whole seconds.
	// Default DefaultRetryAfter.
	RetryAfter time.Duration
}

// PushHandler is an http.Handler receiving SETs by RFC 8935 push delivery.
//
// Each request is answered:
//
//   - 405 unless it is a POST;
//   - 401 with "WWW-Authenticate: Bearer" unless it carries
//     "Authorization: Bearer <Token>" (compared in constant time);
//   - 400 invalid_request unless its Content-Type is application/secevent+jwt;
//   - 503 with Retry-After when MaxConcurrent requests are being handled;
//   - 400 invalid_request when the body exceeds the Verifier's MaxBytes. RFC
//     8935 §2.3 answers every SET the recipient will not accept with 400 and
//     an error code, and a transmitter treats other statuses (413 included)
//     as "try again": a SET that is too large will not shrink, so 400 stops
//     the retransmissions;
//   - 400 with the RFC 8935 JSON error body {"err", "description"} when the
//     Verifier refuses the SET; nothing is handed to the sink;
//   - 202 when the SET's jti was already recorded: RFC 8935 §2 has the
//     transmitter retransmit a SET whose acknowledgement it did not receive
//     (a timeout after the sink succeeded), and the 202 is the
//     acknowledgement it is missing. A 400 would make it report as refused
//     a SET that was acted on. The sink is not called again. Verify checks
//     the signature first, so only an authentic SET gets this answer;
//   - 503 with Retry-After on a failure that is not the transmitter's (keys
//     unavailable, replay store full or failing, the sink failing or timing
//     out) or while another request is handling the same SET: the SET is not
//     recorded and the transmitter delivers it again;
//   - 202 once the sink succeeded and the jti was recorded.
//
// A SET is thus handed to the sink once however often it is delivered, and a
// SET the sink failed on is not lost. One case remains: when the sink
// succeeded but recording the jti failed (the replay store filled up in the
// meantime), the handler answers 503 rather than acknowledge a SET it could
// not record, and the sink may see the SET again; sinks should tolerate a
// repeated SET (its jti identifies it).
type PushHandler struct {
	verifier   *Verifier
	sink       Sink
	tokenHash  [sha256.Size]byte
	sem        chan struct{}
	timeout    time.Duration
	retryAfter string

	mu       sync.Mutex
	inFlight map[replayKey]struct{}
}

// NewPushHandler checks cfg and returns a handler.
func NewPushHandler(cfg PushConfig) (*PushHandler, error) {
	if cfg.Verifier == nil || cfg.Sink == nil || cfg.Token == "" {
		return nil, errors.New("ssf push handler: Verifier, Sink and Token are required")
	}
	if err := cfg.Verifier.checkConfig(); err != nil {
		return nil, err
	}
	retry := cmpOr(cfg.RetryAfter, DefaultRetryAfter)
	return &PushHandler{
		verifier:   cfg.Verifier,
		sink:       cfg.Sink,
		tokenHash:  sha256.Sum256([]byte(cfg.Token)),
		sem:        make(chan struct{}, cmpOr(cfg.MaxConcurrent, DefaultMaxConcurrent)),
		timeout:    cmpOr(cfg.Timeout, DefaultSinkTimeout),
		retryAfter: strconv.Itoa(int((retry + time.Second - 1) / time.Second)),
		inFlight:   map[replayKey]struct{}{},
	}, nil
}

// ServeHTTP implements http.Handler.
func (h *PushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if !isSecEventContentType(r.Header.Get("Content-Type")) {
		writeSETError(w, newError(CodeInvalidRequest, "Content-Type must be "+ContentTypeSecEventJWT))
		return
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		h.unavailable(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	h.handle(ctx, w, r)
}

// handle reads, verifies and hands on one SET.
func (h *PushHandler) handle(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	log := logr.FromContextOrDiscard(ctx)
	maxBytes := cmpOr(h.verifier.MaxBytes, DefaultMaxBytes)
	token, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(maxBytes)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeSETError(w, newError(CodeInvalidRequest, fmt.Sprintf("SET larger than %d bytes", maxBytes)))
		return
	case err != nil:
		writeSETError(w, newError(CodeInvalidRequest, "request body could not be read"))
		return
	}
	set, err := h.verifier.verifyToken(ctx, token)
	var setErr *Error
	switch {
	case errors.As(err, &setErr):
		writeSETError(w, setErr)
		return
	case err != nil:
		log.Error(err, "Cannot verify SET")
		h.unavailable(w)
		return
	}
	key := replayKey{issuer: set.Issuer, jti: set.JTI}
	if !h.claim(key) {
		h.unavailable(w) // the same SET is being handled: ask again later
		return
	}
	defer h.release(key)
	h.deliver(ctx, w, set)
}

// deliver checks the replay store, hands the SET to the sink and records
// its jti.
func (h *PushHandler) deliver(ctx context.Context, w http.ResponseWriter, set *SET) {
	log := logr.FromContextOrDiscard(ctx).WithValues("jti", set.JTI)
	switch err := h.verifier.checkReplay(ctx, set); {
	case errors.Is(err, ErrReplay):
		w.WriteHeader(http.StatusAccepted) // already accepted: acknowledge again
		return
	case err != nil:
		log.Error(err, "Cannot check SET for replay")
		h.unavailable(w)
		return
	}
	if err := h.sink.Receive(ctx, set); err != nil {
		log.Error(err, "SET sink failed")
		h.unavailable(w)
		return
	}
	if err := h.verifier.Accept(ctx, set); err != nil {
		log.Error(err, "Cannot record accepted SET")
		h.unavailable(w)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// authorized compares the bearer token in constant time. Both sides are
// hashed first so that the comparison does not reveal the token's length.
func (h *PushHandler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

// claim marks key as being handled, unless it already is.
func (h *PushHandler) claim(key replayKey) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.inFlight[key]; busy {
		return false
	}
	h.inFlight[key] = struct{}{}
	return true
}

// release marks key as no longer being handled.
func (h *PushHandler) release(key replayKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.inFlight, key)
}

// unavailable answers 503 with Retry-After: the transmitter sends the SET
// again later.
func (h *PushHandler) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", h.retryAfter)
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

// isSecEventContentType accepts application/secevent+jwt, with parameters,
// case-insensitively.
func isSecEventContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == ContentTypeSecEventJWT
}

// writeSETError answers 400 with the RFC 8935 §2.3 error body.
func writeSETError(w http.ResponseWriter, e *Error) {
	body, err := json.Marshal(e)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(body)
}
