package ingest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// TestServerKeepsTheGoodEventsOfAHostileBatch: every bad event is
// rejected by its index with a reason; the good ones are stored and the
// request succeeds.
func TestServerKeepsTheGoodEventsOfAHostileBatch(t *testing.T) {
	f := newFixture(t, newMemStore("acme/kim"))
	w := f.postEvents("token-a",
		signIn("acme/kim", "203.0.113.7", t0),
		signIn("../etc", "203.0.113.7", t0),
		`{"contractor":"acme/kim","IP":"203.0.113.8","time":"`+t0.Format(time.RFC3339)+`"}`,
		signIn("acme/kim", "fe80::1%eth0", t0),
		`{"contractor":"acme/kim","ip":"203.0.113.9","userAgent":"`+"\xff\xfe"+`","time":"`+t0.Format(time.RFC3339)+`"}`,
		`{"contractor":"acme/kim","ip":"203.0.113.9","userAgent":"\udc00","time":"`+t0.Format(time.RFC3339)+`"}`,
		signIn("acme/nobody", "203.0.113.7", t0),
		signIn("acme/kim", "203.0.113.10", t0.Add(time.Minute)),
	)
	if w.Code != http.StatusOK {
		t.Fatalf("%d: %s", w.Code, w.Body)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &shape); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"received", "accepted", "duplicates", "rejected", "findingsCreated", "findingsUpdated"} {
		if _, ok := shape[key]; !ok {
			t.Errorf("the result lacks %q: %s", key, w.Body)
		}
	}
	var res signals.Result
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: `contractor "../etc" must be namespace/name`, 2: `unknown field "IP"`, 3: "has a zone",
		4: "not valid UTF-8", 5: "unpaired UTF-16 surrogate", 6: "contractor acme/nobody does not exist"}
	if res.Received != 8 || res.Accepted != 2 || len(res.Rejected) != len(want) {
		t.Fatalf("result = %+v", res)
	}
	for _, r := range res.Rejected {
		if !strings.Contains(r.Error, want[r.Index]) {
			t.Errorf("event %d: %q lacks %q", r.Index, r.Error, want[r.Index])
		}
	}
	if got := f.store.total("acme/kim"); got != 2 {
		t.Errorf("kim has %d sign-ins, want 2", got)
	}
}

func TestServerRateLimitsEachToken(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rate        float64
		burst       int
		retryAfter  string
		nextAllowed time.Duration
	}{
		{"one a second, two at once", 1, 2, "1", time.Second},
		{"one every five seconds", 0.2, 1, "5", 5 * time.Second},
		{"four a second", 4, 1, "1", 250 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newMemStore("acme/kim"), func(s *Server) { s.Rate, s.Burst = tc.rate, tc.burst })
			send := func(token string) int {
				return f.postEvents(token, signIn("acme/kim", "203.0.113.7", t0)).Code
			}
			for i := range tc.burst {
				if code := send("token-a"); code != http.StatusOK {
					t.Fatalf("request %d of the burst: %d", i, code)
				}
			}
			body := &counting{r: strings.NewReader(signIn("acme/kim", "203.0.113.7", t0))}
			w := f.post("token-a", body, -1)
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("over the rate: %d, Retry-After %q (want 429, %q): %s", w.Code, w.Header().Get("Retry-After"), tc.retryAfter, w.Body)
			}
			if body.read.Load() != 0 {
				t.Errorf("the refused body was read: %d bytes", body.read.Load())
			}
			if code := send("token-b"); code != http.StatusOK {
				t.Errorf("another token was refused: %d", code)
			}
			// A refused request takes nothing from the budget.
			f.clock.Step(tc.nextAllowed)
			if code := send("token-a"); code != http.StatusOK {
				t.Errorf("after %s: %d", tc.nextAllowed, code)
			}
		})
	}
}

func TestServerKeepsLimitersOnlyForValidTokens(t *testing.T) {
	f := newFixture(t, newMemStore("acme/kim"))
	for _, token := range []string{"token-a", "token-b"} {
		if w := f.postEvents(token, signIn("acme/kim", "203.0.113.7", t0)); w.Code != http.StatusOK {
			t.Fatalf("%d: %s", w.Code, w.Body)
		}
	}
	f.secret.set("token-b", "token-c")
	f.clock.Step(time.Minute) // past the tokens' refresh
	if w := f.postEvents("token-c", signIn("acme/kim", "203.0.113.7", t0)); w.Code != http.StatusOK {
		t.Fatalf("%d: %s", w.Code, w.Body)
	}
	l := f.srv.perToken
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byDigest) != 2 {
		t.Errorf("%d limiters for 2 valid tokens", len(l.byDigest))
	}
	for d := range l.byDigest {
		if d == digestOf("token-a") {
			t.Error("the removed token's limiter is kept")
		}
	}
}

func TestServerRefusesWhenBusy(t *testing.T) {
	padded := func(n int) string { // an event padded with spaces to n bytes
		e := signIn("acme/kim", "203.0.113.7", t0)
		return e + strings.Repeat(" ", n-len(e))
	}
	for _, tc := range []struct {
		name string
		opts func(*Server)
		// second is the body of the request sent while the first is in
		// flight; size its declared length.
		second string
		size   int64
	}{
		// A body of unknown length counts the 8 MiB limit: too large for
		// the slot kept for small bodies.
		{"one request at a time", func(s *Server) { s.MaxConcurrentRequests = 1; s.AdmissionWait = -1 },
			padded(100), -1},
		{"one request at a time, after a short wait", func(s *Server) { s.MaxConcurrentRequests = 1; s.AdmissionWait = 20 * time.Millisecond },
			padded(100), -1},
		{"body bytes: two declared bodies", func(s *Server) { s.MaxBodyBytes, s.MaxInflightBytes = 1000, 1000; s.AdmissionWait = -1 },
			padded(600), 600},
		{"body bytes: a body of unknown length counts the limit", func(s *Server) {
			s.MaxBodyBytes, s.MaxInflightBytes = 1000, 1000
			s.AdmissionWait = -1
		}, padded(100), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore("acme/kim")
			f := newFixture(t, store, tc.opts)
			entered, release := store.holdReads()
			first := make(chan int)
			go func() { first <- f.post("token-a", strings.NewReader(padded(600)), 600).Code }()
			<-entered // the first request is being ingested

			body := &counting{r: strings.NewReader(tc.second)}
			w := f.post("token-b", body, tc.size)
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
				t.Errorf("while busy: %d, Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			if body.read.Load() != 0 {
				t.Errorf("the refused body was read: %d bytes", body.read.Load())
			}
			release()
			if code := <-first; code != http.StatusOK {
				t.Errorf("the first request: %d", code)
			}
			if w := f.post("token-b", strings.NewReader(tc.second), tc.size); w.Code != http.StatusOK {
				t.Errorf("once free: %d: %s", w.Code, w.Body)
			}
		})
	}
}

func digestOf(token string) digest { return sha256.Sum256([]byte(token)) }

// endless is a request body of events that never ends.
type endless struct {
	line []byte
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	return n, nil
}

// TestServerRefusesLargeBodiesWithoutReadingThem: a body declared too
// large is not read at all; one that turns out too large is read up to
// the limit (a byte more) and no further.
func TestServerRefusesLargeBodiesWithoutReadingThem(t *testing.T) {
	line := []byte(signIn("acme/kim", "203.0.113.7", t0) + "\n")
	for _, tc := range []struct {
		name     string
		limit    int64
		size     int64
		limits   signals.Limits
		maxRead  int64
		response string
	}{
		{"declared larger than the limit", 64 << 10, 8 << 20, signals.DefaultLimits(), 0, "larger than 65536 bytes"},
		{"larger than the limit, undeclared", 64 << 10, -1, signals.DefaultLimits(), 64<<10 + 1, "larger than 65536 bytes"},
		// Read up to the eleventh event, and a buffer ahead.
		{"more events than allowed", 8 << 20, -1, signals.Limits{MaxEvents: 10}, 11*int64(len(line)) + signals.MaxEventBytes, "too many events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enricher, err := signals.OpenEnricher(signals.EnricherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, newMemStore("acme/kim"), func(s *Server) {
				s.MaxBodyBytes = tc.limit
				s.Ingester = signals.NewIngester(newMemStore("acme/kim"), enricher, signals.IngesterOptions{Limits: tc.limits})
			})
			body := &counting{r: &endless{line: line}}
			w := f.post("token-a", body, tc.size)
			if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), tc.response) {
				t.Errorf("%d: %s", w.Code, w.Body)
			}
			if read := body.read.Load(); read > tc.maxRead {
				t.Errorf("read %d bytes of the body, more than %d", read, tc.maxRead)
			}
		})
	}
}

func TestServerRefusesBeforeReading(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       func(*fixture)
		token      string
		code       int
		retryAfter bool
	}{
		{"not the leader", func(f *fixture) { f.srv.Elected = make(chan struct{}) }, "token-a", http.StatusServiceUnavailable, true},
		{"no token", nil, "", http.StatusUnauthorized, false},
		{"a wrong token", nil, "token-z", http.StatusUnauthorized, false},
		{"the tokens cannot be read", func(f *fixture) { f.secret.err = errors.New("forbidden") }, "token-a", http.StatusServiceUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newMemStore("acme/kim"))
			if tc.opts != nil {
				tc.opts(f)
			}
			body := &counting{r: strings.NewReader(signIn("acme/kim", "203.0.113.7", t0))}
			w := f.post(tc.token, body, -1)
			if w.Code != tc.code || (w.Header().Get("Retry-After") != "") != tc.retryAfter {
				t.Errorf("%d, Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			if tc.code == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			if strings.Contains(w.Body.String(), "token-") {
				t.Errorf("the response echoes a token: %s", w.Body)
			}
			if body.read.Load() != 0 {
				t.Errorf("the refused body was read: %d bytes", body.read.Load())
			}
		})
	}
}

func TestServerGivesTheSlotOfASlowBodyBack(t *testing.T) {
	store := newMemStore("acme/kim")
	f := newFixture(t, store, func(s *Server) { s.MaxConcurrentRequests, s.BodyTimeout = 1, 200*time.Millisecond })
	srv := httptest.NewServer(f.handler) // real connections, which have read deadlines
	defer srv.Close()
	post := func(body io.Reader) int { return postOver(t, srv, body) }
	slow, stalled := io.Pipe()
	defer func() { _ = stalled.Close() }()
	go func() { _, _ = stalled.Write([]byte(`{"contractor":"acme/kim",`)) }() // then nothing
	if code := post(slow); code != http.StatusRequestTimeout {
		t.Fatalf("a stalled body: %d, want 408", code)
	}
	if code := post(strings.NewReader(signIn("acme/kim", "203.0.113.7", t0))); code != http.StatusOK {
		t.Fatalf("after the stalled body: %d, want 200: its slot was not given back", code)
	}
}

func TestFollowerClosesTheConnection(t *testing.T) {
	f := newFixture(t, newMemStore("acme/kim"), func(s *Server) { s.Elected = make(chan struct{}) })
	srv := httptest.NewUnstartedServer(f.handler)
	var connections atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for range 2 {
		if code := postOver(t, srv, strings.NewReader(signIn("acme/kim", "203.0.113.7", t0))); code != http.StatusServiceUnavailable {
			t.Fatalf("a follower answered %d", code)
		}
	}
	// Behind a Service, a new connection may reach the leader; a kept one
	// would return to this follower.
	if n := connections.Load(); n != 2 {
		t.Errorf("%d connections for two requests: the follower kept the connection open", n)
	}
}

// postOver posts body with token-a over a real connection to srv and
// returns the status code.
func postOver(t *testing.T, srv *httptest.Server, body io.Reader) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+Path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer token-a")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}
