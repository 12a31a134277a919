package ssf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/utils/clock"

	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/test/ssfserver"
)

// pollEnv is a fake transmitter with one poll stream and a Verifier for it.
type pollEnv struct {
	fake     *ssfserver.Server
	id       string
	endpoint string
	verifier *ssf.Verifier
}

func newPollEnv(t *testing.T) *pollEnv {
	t.Helper()
	fake, err := ssfserver.New(ssfserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	keys, err := ssf.NewJWKS(ssf.JWKSConfig{URL: fake.URL() + ssfserver.PathJWKS, Client: fake.Client(), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	v := &ssf.Verifier{
		Issuer: fake.Issuer(), Audience: fake.Audience(), Keys: keys,
		Replay: ssf.NewMemoryReplayStore(clock.RealClock{}, 1000), Clock: clock.RealClock{},
	}
	var cfg ssfserver.StreamConfig
	body := map[string]any{
		"delivery":         map[string]any{"method": ssfserver.MethodPoll},
		"events_requested": []string{ssf.EventSessionRevoked},
	}
	if code := fakeCall(t, fake, ssfserver.PathStream, body, &cfg); code != http.StatusCreated {
		t.Fatalf("create stream: %d", code)
	}
	return &pollEnv{fake: fake, id: cfg.StreamID, endpoint: cfg.Delivery.EndpointURL, verifier: v}
}

// fakeCall posts body to the fake with its management token and decodes
// the answer into out.
func fakeCall(t *testing.T, fake *ssfserver.Server, path string, body, out any) int {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, fake.URL()+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+fake.Token())
	resp, err := fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
	return resp.StatusCode
}

// poller builds a Poller on the environment's stream; mod adjusts cfg.
func (e *pollEnv) poller(t *testing.T, snk ssf.Sink, mod func(*ssf.PollConfig)) *ssf.Poller {
	t.Helper()
	cfg := ssf.PollConfig{
		URL: e.endpoint, Client: e.fake.Client(), Token: e.fake.Token(),
		Verifier: e.verifier, Sink: snk, ReturnImmediately: true,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := ssf.NewPoller(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *pollEnv) emit(t *testing.T) string {
	t.Helper()
	jti := e.fake.Emit(e.id, ssf.EventSessionRevoked, alice, map[string]any{"initiating_entity": "policy"})
	if jti == "" {
		t.Fatal("event not queued")
	}
	return jti
}

func mustPoll(t *testing.T, p *ssf.Poller, want ssf.PollResult) {
	t.Helper()
	got, err := p.Poll(context.Background())
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if got != want {
		t.Fatalf("poll result %+v, want %+v", got, want)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestPollerDeliversEachSETOnce(t *testing.T) {
	e := newPollEnv(t)
	snk := &sink{}
	p := e.poller(t, snk, nil)
	jtis := sorted([]string{e.emit(t), e.emit(t), e.emit(t)})
	mustPoll(t, p, ssf.PollResult{Received: 3, Accepted: 3})
	if got := sorted(snk.received()); !slices.Equal(got, jtis) {
		t.Errorf("sink got %v, want %v once each", got, jtis)
	}
	mustPoll(t, p, ssf.PollResult{}) // carries the acknowledgements
	if got := sorted(e.fake.Delivered(e.id)); !slices.Equal(got, jtis) {
		t.Errorf("delivered %v, want %v", got, jtis)
	}
	if pending := e.fake.Pending(e.id); len(pending) != 0 || snk.callCount() != 3 {
		t.Errorf("pending %v, sink calls %d", pending, snk.callCount())
	}
}

func TestPollerRetriesFailedSink(t *testing.T) {
	e := newPollEnv(t)
	snk := &sink{failFor: 1}
	p := e.poller(t, snk, nil)
	jti := e.emit(t)
	mustPoll(t, p, ssf.PollResult{Received: 1, Deferred: 1})
	mustPoll(t, p, ssf.PollResult{Received: 1, Accepted: 1}) // returned again
	mustPoll(t, p, ssf.PollResult{})
	if got := snk.received(); !slices.Equal(got, []string{jti}) || snk.callCount() != 2 {
		t.Errorf("sink got %v in %d calls, want %s once after one failure", got, snk.callCount(), jti)
	}
	if got := e.fake.Delivered(e.id); !slices.Equal(got, []string{jti}) {
		t.Errorf("delivered %v", got)
	}
}

func TestPollerKeepsAcksOfFailedRequest(t *testing.T) {
	e := newPollEnv(t)
	snk := &sink{}
	p := e.poller(t, snk, nil)
	jtis := sorted([]string{e.emit(t), e.emit(t)})
	mustPoll(t, p, ssf.PollResult{Received: 2, Accepted: 2})
	e.fake.SetDown(true)
	if _, err := p.Poll(context.Background()); !errors.Is(err, ssf.ErrPollUnavailable) {
		t.Fatalf("poll while down: %v, want ErrPollUnavailable", err)
	}
	if got := e.fake.Delivered(e.id); len(got) != 0 {
		t.Fatalf("delivered while down: %v", got)
	}
	e.fake.SetDown(false)
	mustPoll(t, p, ssf.PollResult{})
	if got := sorted(e.fake.Delivered(e.id)); !slices.Equal(got, jtis) || len(e.fake.Pending(e.id)) != 0 {
		t.Errorf("delivered %v, pending %v; want %v and none", got, e.fake.Pending(e.id), jtis)
	}
	if snk.callCount() != 2 {
		t.Errorf("sink calls %d", snk.callCount())
	}
}

func TestPollerWrongToken(t *testing.T) {
	e := newPollEnv(t)
	const bad = "not-the-poll-token-4711"
	p := e.poller(t, &sink{}, func(c *ssf.PollConfig) { c.Token = bad })
	e.emit(t)
	_, err := p.Poll(context.Background())
	if !errors.Is(err, ssf.ErrPollTokenRefused) || strings.Contains(err.Error(), bad) {
		t.Errorf("error %v, want ErrPollTokenRefused without the token", err)
	}
	if len(e.fake.Pending(e.id)) != 1 {
		t.Errorf("pending %v", e.fake.Pending(e.id))
	}
}

func TestPollerMoreAvailable(t *testing.T) {
	e := newPollEnv(t)
	p := e.poller(t, &sink{}, func(c *ssf.PollConfig) { c.MaxEvents = 2 })
	for range 3 {
		e.emit(t)
	}
	mustPoll(t, p, ssf.PollResult{Received: 2, Accepted: 2, MoreAvailable: true})
	mustPoll(t, p, ssf.PollResult{Received: 1, Accepted: 1})
	mustPoll(t, p, ssf.PollResult{})
	if len(e.fake.Delivered(e.id)) != 3 {
		t.Errorf("delivered %v", e.fake.Delivered(e.id))
	}
}

// scriptedPoll is a poll endpoint that answers every request with sets and
// records the requests.
type scriptedPoll struct {
	sets map[string]string
	mu   sync.Mutex
	reqs []map[string]json.RawMessage
}

func (s *scriptedPoll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req map[string]json.RawMessage
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(data, &req)
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sets": s.sets, "moreAvailable": false})
}

func (s *scriptedPoll) request(t *testing.T, i int) map[string]json.RawMessage {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.reqs) {
		t.Fatalf("only %d requests", len(s.reqs))
	}
	return s.reqs[i]
}

// fakeTokens takes n genuine SETs from the fake's poll endpoint without
// acknowledging them.
func (e *pollEnv) fakeTokens(t *testing.T, n int) map[string]string {
	t.Helper()
	for range n {
		e.emit(t)
	}
	var resp ssfserver.PollResponse
	path := strings.TrimPrefix(e.endpoint, e.fake.URL())
	if code := fakeCall(t, e.fake, path, map[string]any{"returnImmediately": true}, &resp); code != http.StatusOK || len(resp.Sets) != n {
		t.Fatalf("poll: %d %v", code, resp.Sets)
	}
	return resp.Sets
}

func TestPollerRefusesBadSETsAndReacknowledges(t *testing.T) {
	e := newPollEnv(t)
	genuine := e.fakeTokens(t, 2)
	jtis := slices.Sorted(maps.Keys(genuine))
	script := &scriptedPoll{sets: map[string]string{
		"forged":          string(forge(t, e.fake)),
		"not-its-jti":     genuine[jtis[0]],
		jtis[1]:           genuine[jtis[1]],
		"not-a-set-at-al": "hello",
	}}
	srv := httptest.NewTLSServer(script)
	t.Cleanup(srv.Close)
	snk := &sink{}
	p, err := ssf.NewPoller(ssf.PollConfig{
		URL: srv.URL + "/poll", Client: srv.Client(), Token: "t", Verifier: e.verifier, Sink: snk, ReturnImmediately: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	mustPoll(t, p, ssf.PollResult{Received: 4, Accepted: 1, Refused: 3})
	// The genuine SET comes back: already accepted, acknowledged again
	// without the sink.
	mustPoll(t, p, ssf.PollResult{Received: 4, Accepted: 1, Refused: 3})
	if got := snk.received(); !slices.Equal(got, []string{jtis[1]}) || snk.callCount() != 1 {
		t.Errorf("sink got %v in %d calls", got, snk.callCount())
	}

	first, second := script.request(t, 0), script.request(t, 1)
	if string(first["ack"]) != "[]" || string(first["maxEvents"]) != "100" || string(first["returnImmediately"]) != "true" {
		t.Errorf("first request %s %s %s", first["ack"], first["maxEvents"], first["returnImmediately"])
	}
	var ack []string
	var setErrs map[string]ssf.Error
	if err := json.Unmarshal(second["ack"], &ack); err != nil || !slices.Equal(ack, []string{jtis[1]}) {
		t.Errorf("ack %s", second["ack"])
	}
	if err := json.Unmarshal(second["setErrs"], &setErrs); err != nil {
		t.Fatalf("setErrs %s", second["setErrs"])
	}
	for jti, code := range map[string]string{
		"forged": ssf.CodeAuthenticationFailed, "not-its-jti": ssf.CodeInvalidRequest, "not-a-set-at-al": ssf.CodeInvalidRequest,
	} {
		if got := setErrs[jti]; got.Code != code || got.Description == "" {
			t.Errorf("setErrs[%s] = %+v, want %s", jti, got, code)
		}
	}
}

func TestNewPollerChecksConfig(t *testing.T) {
	e := newPollEnv(t)
	for name, mod := range map[string]func(*ssf.PollConfig){
		"http URL":       func(c *ssf.PollConfig) { c.URL = strings.Replace(c.URL, "https:", "http:", 1) },
		"no token":       func(c *ssf.PollConfig) { c.Token = "" },
		"no sink":        func(c *ssf.PollConfig) { c.Sink = nil },
		"too many evts":  func(c *ssf.PollConfig) { c.MaxEvents = ssf.MaxPollMaxEvents + 1 },
		"bad verifier":   func(c *ssf.PollConfig) { c.Verifier = &ssf.Verifier{} },
		"missing client": func(c *ssf.PollConfig) { c.Client = nil },
	} {
		cfg := ssf.PollConfig{URL: e.endpoint, Client: e.fake.Client(), Token: "t", Verifier: e.verifier, Sink: &sink{}}
		mod(&cfg)
		if _, err := ssf.NewPoller(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPollerReportsRefusalToTransmitter(t *testing.T) {
	e := newPollEnv(t)
	old := e.fake.KeyIDs()[0]
	jti := e.emit(t) // signed with a key about to leave the JWKS
	if _, err := e.fake.RotateKey(); err != nil || !e.fake.RetireKey(old) {
		t.Fatalf("rotate: %v", err)
	}
	snk := &sink{}
	p := e.poller(t, snk, nil)
	mustPoll(t, p, ssf.PollResult{Received: 1, Refused: 1})
	mustPoll(t, p, ssf.PollResult{}) // carries setErrs
	if got := e.fake.Rejected(e.id); got[jti] != ssf.CodeInvalidKey || len(e.fake.Pending(e.id)) != 0 {
		t.Errorf("rejected %v, pending %v; want %s: %s", got, e.fake.Pending(e.id), jti, ssf.CodeInvalidKey)
	}
	if snk.callCount() != 0 {
		t.Errorf("sink called %d times", snk.callCount())
	}
}

// A poll response is a JSON object, so its SETs come in no order; the
// Poller acts on them in the order of their events, and after one it could
// not act on it acts on none, so that an older event never overtakes a
// newer one (a disable arriving after the enable that lifted it).
func TestPollerActsInEventOrder(t *testing.T) {
	e := newPollEnv(t)
	snk := &sink{failFor: 1}
	p := e.poller(t, snk, nil)
	var want []string
	for i := range 6 {
		want = append(want, e.fake.Emit(e.id, ssf.EventSessionRevoked, alice,
			map[string]any{"event_timestamp": 1772618000 + i}))
	}
	// The sink fails on the earliest: nothing after it is acted on.
	mustPoll(t, p, ssf.PollResult{Received: 6, Deferred: 6})
	if got := snk.received(); len(got) != 0 {
		t.Fatalf("acted on %v after the earliest SET failed", got)
	}
	mustPoll(t, p, ssf.PollResult{Received: 6, Accepted: 6})
	if got := snk.received(); !slices.Equal(got, want) {
		t.Errorf("sink got %v, want the event order %v", got, want)
	}
}
