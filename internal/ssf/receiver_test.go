package ssf_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"k8s.io/utils/clock"

	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/test/ssfserver"
)

const rcvToken = "rcv-secret"

var alice = ssf.SubjectID{Format: ssf.FormatEmail, Email: "alice@contractor.example"}

// sink records the SETs handed to it; it fails the first failFor calls and,
// when block is set, signals entered and waits for block to be closed.
type sink struct {
	mu      sync.Mutex
	failFor int
	calls   int
	got     []string
	block   chan struct{}
	entered chan struct{}
}

func (s *sink) Receive(ctx context.Context, set *ssf.SET) error {
	if s.block != nil {
		s.entered <- struct{}{}
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failFor > 0 {
		s.failFor--
		return errors.New("sink down")
	}
	s.got = append(s.got, set.JTI)
	return nil
}

func (s *sink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *sink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// env is a fake transmitter pushing to a PushHandler behind a TLS server.
type env struct {
	fake   *ssfserver.Server
	rcv    *httptest.Server
	sink   *sink
	bodies chan []byte // request bodies the receiver got, for replays
}

// handlerSlot lets the TLS server start before the handler, which needs
// the fake's URL, exists.
type handlerSlot struct {
	h      atomic.Pointer[ssf.PushHandler]
	bodies chan []byte
}

func (s *handlerSlot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	select {
	case s.bodies <- body:
	default:
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.h.Load().ServeHTTP(w, r)
}

func newEnv(t *testing.T, snk *sink, cfg ssf.PushConfig, opts ssfserver.Options) *env {
	t.Helper()
	slot := &handlerSlot{bodies: make(chan []byte, 64)}
	rcv := httptest.NewUnstartedServer(slot)
	rcv.StartTLS()
	t.Cleanup(rcv.Close)

	opts.PushClient = rcv.Client() // the fake's pushes trust the receiver
	opts.RetryBackoff, opts.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	fake, err := ssfserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)

	keys, err := ssf.NewJWKS(ssf.JWKSConfig{URL: fake.URL() + ssfserver.PathJWKS, Client: fake.Client(), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Verifier = &ssf.Verifier{
		Issuer: fake.Issuer(), Audience: fake.Audience(), Keys: keys,
		Replay: ssf.NewMemoryReplayStore(clock.RealClock{}, 1000), Clock: clock.RealClock{},
	}
	cfg.Sink, cfg.Token = snk, rcvToken
	h, err := ssf.NewPushHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	slot.h.Store(h)
	return &env{fake: fake, rcv: rcv, sink: snk, bodies: slot.bodies}
}

// pushStream creates a push stream to the receiver, authenticated with auth.
func (e *env) pushStream(t *testing.T, auth string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"delivery": map[string]any{
			"method": ssfserver.MethodPush, "endpoint_url": e.rcv.URL + "/events", "authorization_header": auth,
		},
		"events_requested": []string{ssf.EventSessionRevoked},
	})
	req, _ := http.NewRequest(http.MethodPost, e.fake.URL()+ssfserver.PathStream, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.fake.Token())
	resp, err := e.fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var cfg ssfserver.StreamConfig
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create stream: %d %v", resp.StatusCode, err)
	}
	return cfg.StreamID
}

func (e *env) emit(t *testing.T, id string) string {
	t.Helper()
	jti := e.fake.Emit(id, ssf.EventSessionRevoked, alice, map[string]any{"initiating_entity": "policy"})
	if jti == "" {
		t.Fatal("event not queued")
	}
	return jti
}

// post sends body to the receiver by hand and returns the status, the
// headers and the decoded RFC 8935 error body, if any.
func (e *env) post(t *testing.T, auth, contentType string, body []byte) (int, http.Header, ssf.Error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.rcv.URL+"/events", bytes.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", contentType)
	resp, err := e.rcv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var se ssf.Error
	if resp.StatusCode == http.StatusBadRequest {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("error Content-Type %q", ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&se); err != nil {
			t.Fatalf("error body: %v", err)
		}
	}
	return resp.StatusCode, resp.Header, se
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestPushHandlerDeliversEachSETOnce(t *testing.T) {
	e := newEnv(t, &sink{}, ssf.PushConfig{}, ssfserver.Options{})
	id := e.pushStream(t, "Bearer "+rcvToken)
	jtis := []string{e.emit(t, id), e.emit(t, id), e.emit(t, id)}
	eventually(t, "delivery", func() bool { return len(e.fake.Delivered(id)) == len(jtis) })
	if got := e.sink.received(); !slices.Equal(got, jtis) {
		t.Errorf("sink got %v, want %v once each", got, jtis)
	}

	// A replay by hand of an accepted SET is acknowledged, not handed on.
	body := <-e.bodies
	code, _, _ := e.post(t, "Bearer "+rcvToken, ssf.ContentTypeSecEventJWT, body)
	if code != http.StatusAccepted || e.sink.callCount() != len(jtis) {
		t.Errorf("replay: status %d, sink calls %d", code, e.sink.callCount())
	}
}

func TestPushHandlerRetriesFailedSink(t *testing.T) {
	e := newEnv(t, &sink{failFor: 2}, ssf.PushConfig{}, ssfserver.Options{})
	id := e.pushStream(t, "Bearer "+rcvToken)
	jti := e.emit(t, id)
	eventually(t, "delivery", func() bool { return len(e.fake.Delivered(id)) == 1 })
	if got := e.sink.received(); !slices.Equal(got, []string{jti}) {
		t.Errorf("sink got %v, want %s once", got, jti)
	}
	if n := e.fake.Attempts(id, jti); n != 3 || e.sink.callCount() != 3 {
		t.Errorf("attempts %d, sink calls %d; want 3 and 3", n, e.sink.callCount())
	}
}

func TestPushHandlerWrongToken(t *testing.T) {
	e := newEnv(t, &sink{}, ssf.PushConfig{}, ssfserver.Options{MaxAttempts: 2})
	id := e.pushStream(t, "Bearer not-the-token")
	jti := e.emit(t, id)
	eventually(t, "failure", func() bool { return slices.Contains(e.fake.Failed(id), jti) })
	if e.sink.callCount() != 0 {
		t.Errorf("sink called %d times", e.sink.callCount())
	}
	code, hdr, _ := e.post(t, "Bearer nope", ssf.ContentTypeSecEventJWT, []byte("a.b.c"))
	if code != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("status %d, WWW-Authenticate %q", code, hdr.Get("WWW-Authenticate"))
	}
}

func TestPushHandlerRefusesBadSETs(t *testing.T) {
	e := newEnv(t, &sink{}, ssf.PushConfig{}, ssfserver.Options{})
	auth := "Bearer " + rcvToken
	forged := forge(t, e.fake)
	oversized := bytes.Repeat([]byte("a"), ssf.DefaultMaxBytes+1)
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		code              string
	}{
		{"signed with another key", ssf.ContentTypeSecEventJWT, forged, ssf.CodeAuthenticationFailed},
		{"wrong content type", "application/json", forged, ssf.CodeInvalidRequest},
		{"oversized", ssf.ContentTypeSecEventJWT, oversized, ssf.CodeInvalidRequest},
		{"not a JWS", ssf.ContentTypeSecEventJWT, []byte("hello"), ssf.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, se := e.post(t, auth, tc.contentType, tc.body)
			if status != http.StatusBadRequest || se.Code != tc.code || se.Description == "" {
				t.Errorf("status %d, error %+v; want 400 %s", status, se, tc.code)
			}
		})
	}
	if e.sink.callCount() != 0 {
		t.Errorf("sink called %d times", e.sink.callCount())
	}
	req, _ := http.NewRequest(http.MethodGet, e.rcv.URL+"/events", nil)
	resp, err := e.rcv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestPushHandlerConcurrencyLimit(t *testing.T) {
	snk := &sink{block: make(chan struct{}), entered: make(chan struct{}, 8)}
	e := newEnv(t, snk, ssf.PushConfig{MaxConcurrent: 1, RetryAfter: 1500 * time.Millisecond}, ssfserver.Options{})
	id := e.pushStream(t, "Bearer "+rcvToken)
	e.emit(t, id)
	<-snk.entered // the fake's push holds the only slot, blocked in the sink
	status, hdr, _ := e.post(t, "Bearer "+rcvToken, ssf.ContentTypeSecEventJWT, forge(t, e.fake))
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q; want 503 and 2", status, hdr.Get("Retry-After"))
	}
	close(snk.block)
	eventually(t, "delivery", func() bool { return len(e.fake.Delivered(id)) == 1 })
	if len(snk.received()) != 1 {
		t.Errorf("sink got %v", snk.received())
	}
}

func TestNewPushHandlerRequiresConfig(t *testing.T) {
	if _, err := ssf.NewPushHandler(ssf.PushConfig{Sink: &sink{}, Token: "x"}); err == nil {
		t.Error("no Verifier accepted")
	}
	v := &ssf.Verifier{}
	if _, err := ssf.NewPushHandler(ssf.PushConfig{Verifier: v, Sink: &sink{}, Token: "x"}); err == nil {
		t.Error("incomplete Verifier accepted")
	}
}

// forge signs a SET for fake's issuer and audience with a key of its own,
// under the kid of fake's signing key.
func forge(t *testing.T, fake *ssfserver.Server) []byte {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	kids := fake.KeyIDs()
	for name, v := range map[string]any{jwk.KeyIDKey: kids[len(kids)-1], jwk.AlgorithmKey: "ES256"} {
		if err := key.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	signer := &ssf.Signer{Issuer: fake.Issuer(), Key: key, Clock: clock.RealClock{}}
	tok, err := signer.Sign(ssf.SET{
		Audience: []string{fake.Audience()}, JTI: "forged", Subject: &alice,
		Events: map[string]json.RawMessage{ssf.EventSessionRevoked: json.RawMessage(`{"initiating_entity":"policy"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
