package ssftx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// API paths, relative to the issuer's origin.
const (
	PathJWKS     = "/ssf/jwks"
	PathStream   = "/ssf/stream"
	PathStatus   = "/ssf/status"
	PathAdd      = "/ssf/subjects/add"
	PathRemove   = "/ssf/subjects/remove"
	PathVerify   = "/ssf/verify"
	PathPollBase = "/ssf/poll/"
)

// Error codes of the management API's error bodies (RFC 8935 §2.3 shape).
const (
	codeInvalidRequest = ssf.CodeInvalidRequest
	codeUnauthorized   = ssf.CodeAuthenticationFailed
	codeNotFound       = "not_found"
	codeTooLarge       = "request_too_large"
	codeUnavailable    = "temporarily_unavailable"
	codeLimit          = "limit_exceeded"
)

// Transmitter is Portcullis's SSF transmitter. Build it with New.
type Transmitter struct {
	cfg       Config
	origin    string
	keys      *keyring
	receivers *receivers
	store     *store
	push      *http.Client
	slots     chan struct{}
	// wake tells the Deliverer that an outbox grew.
	wake chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when an outbox grows
	// busy counts each receiver's requests in flight (under mu), so that
	// one receiver's long polls cannot take every slot.
	busy map[string]int
}

// perReceiver is how many of the MaxConcurrent slots one receiver may hold.
func (t *Transmitter) perReceiver() int { return max(1, t.cfg.Limits.MaxConcurrent/4) }

// enter takes one of the receiver's slots; false when it holds all of its
// share.
func (t *Transmitter) enter(receiver string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.busy[receiver] >= t.perReceiver() {
		return false
	}
	t.busy[receiver]++
	return true
}

func (t *Transmitter) leave(receiver string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.busy[receiver]--; t.busy[receiver] <= 0 {
		delete(t.busy, receiver)
	}
}

// New checks cfg and returns a Transmitter. It does no I/O.
func New(cfg Config) (*Transmitter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Limits.withDefaults()
	u, _ := url.Parse(cfg.Issuer) // checked by validate
	t := &Transmitter{
		cfg:    cfg,
		origin: u.Scheme + "://" + u.Host,
		keys: &keyring{reader: cfg.Reader, secret: cfg.KeysSecret, refresh: cfg.Limits.SecretRefresh,
			clock: cfg.Clock},
		receivers: &receivers{reader: cfg.Reader, secret: cfg.TokensSecret, refresh: cfg.Limits.SecretRefresh,
			clock: cfg.Clock},
		store:   &store{client: cfg.Client, reader: cfg.Reader, namespace: cfg.Namespace},
		push:    newPushClient(cfg.HTTPClient, cfg.Limits.PushTimeout),
		slots:   make(chan struct{}, cfg.Limits.MaxConcurrent),
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		busy:    map[string]int{},
	}
	return t, nil
}

// signal wakes the Deliverer and waiting polls after an outbox grew.
func (t *Transmitter) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
	t.mu.Lock()
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

func (t *Transmitter) changedChan() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// Metadata is the transmitter's SSF configuration document.
func (t *Transmitter) Metadata() ssf.TransmitterMetadata {
	return ssf.TransmitterMetadata{
		SpecVersion:              "1_0",
		Issuer:                   t.cfg.Issuer,
		JWKSURI:                  t.origin + PathJWKS,
		DeliveryMethodsSupported: []string{ssf.MethodPush, ssf.MethodPoll},
		ConfigurationEndpoint:    t.origin + PathStream,
		StatusEndpoint:           t.origin + PathStatus,
		AddSubjectEndpoint:       t.origin + PathAdd,
		RemoveSubjectEndpoint:    t.origin + PathRemove,
		VerificationEndpoint:     t.origin + PathVerify,
		AuthorizationSchemes:     []ssf.AuthorizationScheme{{SpecURN: ssf.SchemeBearer}},
		DefaultSubjects:          "ALL",
	}
}

// Handler serves the metadata (at ssf.WellKnownPath, followed by the
// issuer's path if it has one), the JWKS and the stream management and
// poll API. Mount it at "/".
func (t *Transmitter) Handler() http.Handler {
	mux := http.NewServeMux()
	well := ssf.WellKnownPath
	if u, _ := url.Parse(t.cfg.Issuer); strings.Trim(u.Path, "/") != "" {
		well += "/" + strings.Trim(u.Path, "/")
	}
	mux.HandleFunc("GET "+well, t.serveMetadata)
	mux.HandleFunc("GET "+PathJWKS, t.serveJWKS)
	api := map[string]func(http.ResponseWriter, *http.Request, string){
		"POST " + PathStream:            t.createStream,
		"GET " + PathStream:             t.readStream,
		"PATCH " + PathStream:           t.updateStream,
		"PUT " + PathStream:             t.replaceStream,
		"DELETE " + PathStream:          t.deleteStream,
		"GET " + PathStatus:             t.readStatus,
		"POST " + PathStatus:            t.updateStatus,
		"POST " + PathAdd:               t.addSubject,
		"POST " + PathRemove:            t.removeSubject,
		"POST " + PathVerify:            t.verify,
		"POST " + PathPollBase + "{id}": t.poll,
	}
	for pattern, h := range api {
		mux.Handle(pattern, t.authenticated(h))
	}
	return mux
}

// authenticated bounds concurrency (in all, and a quarter of it per
// receiver) and the body, and finds the receiver by its bearer token.
func (t *Transmitter) authenticated(h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case t.slots <- struct{}{}:
			defer func() { <-t.slots }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, "too many requests at once; retry")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		receiver, err := t.receivers.lookup(r.Context(), strings.TrimSpace(token))
		if err != nil {
			ctrl.LoggerFrom(r.Context()).Error(err, "Cannot check an SSF receiver token")
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, "cannot check tokens now; retry")
			return
		}
		if !ok || receiver == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ssf", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "a valid bearer token is required")
			return
		}
		if !t.enter(receiver) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, "too many requests of this receiver at once; retry")
			return
		}
		defer t.leave(receiver)
		r.Body = http.MaxBytesReader(w, r.Body, t.cfg.Limits.MaxBodyBytes)
		h(w, r, receiver)
	})
}

func (t *Transmitter) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, t.Metadata())
}

func (t *Transmitter) serveJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := t.keys.get(r.Context())
	if err != nil {
		ctrl.LoggerFrom(r.Context()).Error(err, "Cannot load the SSF signing keys")
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "signing keys unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(set.jwks)
}

// errorBody is the body of every error answer.
type errorBody struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, errorBody{Err: code, Description: description})
}

// decodeJSON reads a bounded JSON body into v, answering 413 or 400 and
// returning false on failure.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, "request body too large")
			return false
		}
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "request body is not the expected JSON object")
		return false
	}
	return true
}

// storeError answers a store error: 404 for an unknown stream, else 503
// (logged; the description says nothing internal).
func storeError(ctx context.Context, w http.ResponseWriter, err error) {
	if errors.Is(err, errStreamNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such stream")
		return
	}
	ctrl.LoggerFrom(ctx).Error(err, "SSF stream storage failed")
	writeError(w, http.StatusServiceUnavailable, codeUnavailable, "stream storage unavailable; retry")
}
