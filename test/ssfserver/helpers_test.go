package ssfserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

var (
	alice = ssf.SubjectID{Format: ssf.FormatEmail, Email: "alice@contractor.example"}
	bob   = ssf.SubjectID{Format: ssf.FormatEmail, Email: "bob@contractor.example"}
)

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// call makes a request with the server's token and decodes a JSON answer
// into out when out is not nil.
func call(t *testing.T, s *Server, method, path string, body, out any) int {
	t.Helper()
	return callWith(t, s, "Bearer "+s.Token(), method, path, body, out)
}

func callWith(t *testing.T, s *Server, auth, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// createStream creates a stream and returns its configuration.
func createStream(t *testing.T, s *Server, body map[string]any) StreamConfig {
	t.Helper()
	var cfg StreamConfig
	if code := call(t, s, http.MethodPost, PathStream, body, &cfg); code != http.StatusCreated {
		t.Fatalf("create stream: status %d", code)
	}
	return cfg
}

func pollStream(t *testing.T, s *Server, events ...string) StreamConfig {
	t.Helper()
	return createStream(t, s, map[string]any{
		"delivery": map[string]any{"method": MethodPoll}, "events_requested": events,
	})
}

func poll(t *testing.T, s *Server, id string, req map[string]any) PollResponse {
	t.Helper()
	var resp PollResponse
	if code := call(t, s, http.MethodPost, PathPoll+id, req, &resp); code != http.StatusOK {
		t.Fatalf("poll: status %d", code)
	}
	return resp
}

func setStatus(t *testing.T, s *Server, id, status string) {
	t.Helper()
	body := map[string]any{"stream_id": id, "status": status, "reason": "test"}
	if code := call(t, s, http.MethodPost, PathStatus, body, nil); code != http.StatusOK {
		t.Fatalf("status %s: %d", status, code)
	}
}

// newVerifier verifies SETs from s against its JWKS, fetched over TLS.
func newVerifier(t *testing.T, s *Server, clk *clocktesting.FakeClock) *ssf.Verifier {
	t.Helper()
	keys, err := ssf.NewJWKS(ssf.JWKSConfig{URL: s.URL() + PathJWKS, Client: s.Client(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &ssf.Verifier{
		Issuer: s.Issuer(), Audience: s.Audience(), Keys: keys,
		Replay: ssf.NewMemoryReplayStore(clk, 1000), Clock: clk,
	}
}

// eventually retries cond for up to ten seconds.
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

// receiver is an RFC 8935 push endpoint that verifies each SET.
type receiver struct {
	ts       *httptest.Server
	verifier *ssf.Verifier

	mu       sync.Mutex
	downFor  int    // answer 503 to this many requests first
	rejectIt string // answer 400 with this err code to the next request
	calls    int
	auths    []string
	got      []string // jtis accepted, in order
}

func newReceiver(t *testing.T, s *Server) *receiver {
	t.Helper()
	r := &receiver{verifier: newVerifier(t, s, clocktesting.NewFakeClock(time.Now()))}
	r.ts = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.ts.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.auths = append(r.auths, req.Header.Get("Authorization"))
	if r.downFor > 0 {
		r.downFor--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if code := r.rejectIt; code != "" {
		r.rejectIt = ""
		writeJSON(w, http.StatusBadRequest, ssf.Error{Code: code, Description: "refused by the test"})
		return
	}
	token, _ := io.ReadAll(req.Body)
	set, err := r.verifier.Verify(context.Background(), token)
	var setErr *ssf.Error
	if errors.As(err, &setErr) {
		writeJSON(w, http.StatusBadRequest, setErr)
		return
	} else if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, set.JTI)
	w.WriteHeader(http.StatusAccepted)
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *receiver) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *receiver) pushStream(t *testing.T, s *Server) StreamConfig {
	t.Helper()
	return createStream(t, s, map[string]any{
		"delivery": map[string]any{
			"method": MethodPush, "endpoint_url": r.ts.URL + "/events", "authorization_header": "Bearer rcv-secret",
		},
		"events_requested": []string{ssf.EventSessionRevoked, ssf.EventCredentialChange},
	})
}
