package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// answers is a test server that gives the n-th request the n-th answer,
// and the last one to every request after.
type answers struct {
	mu    sync.Mutex
	calls []time.Time
	auth  []string
	reply []func(w http.ResponseWriter, r *http.Request)
}

func (a *answers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.calls = append(a.calls, time.Now())
	a.auth = append(a.auth, r.Header.Get("Authorization"))
	reply := a.reply[min(len(a.calls), len(a.reply))-1]
	a.mu.Unlock()
	reply(w, r)
}

func (a *answers) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.calls...)
}

func status(code int, retryAfter, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// accept answers with every event of the batch accepted.
func accept(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n := strings.Count(string(body), "\n")
	_ = json.NewEncoder(w).Encode(signals.Result{Received: n, Accepted: n})
}

func newClient(t *testing.T, a *answers) *Client {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &Client{HTTP: srv.Client(), URL: srv.URL + Path, Token: "t0ken-s3cret", BatchSize: 10, Retries: 3,
		FirstWait: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}
}

var oneEvent = []json.RawMessage{json.RawMessage(`{}`)}

func TestClientWaitsForRetryAfter(t *testing.T) {
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		status(http.StatusTooManyRequests, "2", `{"error":"over the rate"}`),
		status(http.StatusBadRequest, "", `{"error":"not a batch"}`),
	}}
	c := newClient(t, a)
	_, err := c.Send(context.Background(), oneEvent)
	if err == nil || !strings.Contains(err.Error(), "not a batch") {
		t.Fatalf("got %v, want the 400 after one retry", err)
	}
	calls := a.times()
	if len(calls) != 2 {
		t.Fatalf("%d requests, want 2: a 429 is retried, a 400 is not", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < 2*time.Second {
		t.Errorf("sent again after %s, before the server's Retry-After of 2s", gap)
	}
	if a.auth[0] != "Bearer t0ken-s3cret" {
		t.Errorf("Authorization = %q", a.auth[0])
	}
}

func TestClientRetriesA503ThenSucceeds(t *testing.T) {
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		status(http.StatusServiceUnavailable, "", `{"error":"busy"}`),
		accept,
	}}
	c := newClient(t, a)
	res, err := c.Send(context.Background(), oneEvent)
	if err != nil || res.Accepted != 1 {
		t.Fatalf("got %+v, %v; want the event accepted on the second attempt", res, err)
	}
	if n := len(a.times()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestClientDoesNotRetryA400(t *testing.T) {
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		status(http.StatusBadRequest, "1", `{"error":"not a batch"}`),
	}}
	c := newClient(t, a)
	_, err := c.Send(context.Background(), oneEvent)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request: not a batch") || strings.Contains(err.Error(), "gave up") {
		t.Fatalf("got %v, want the 400 at once", err)
	}
	if n := len(a.times()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestClientBoundsAttempts(t *testing.T) {
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		status(http.StatusServiceUnavailable, "", `{"error":"busy"}`),
	}}
	c := newClient(t, a)
	c.Retries = 2
	_, err := c.Send(context.Background(), oneEvent)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("got %v, want to give up after 3 attempts", err)
	}
	if n := len(a.times()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestClientBoundsTime(t *testing.T) {
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		status(http.StatusServiceUnavailable, "3600", `{"error":"busy"}`),
	}}
	c := newClient(t, a)
	c.Retries = 100
	c.MaxRetryAfter = 20 * time.Millisecond
	c.MaxElapsed = 200 * time.Millisecond
	start := time.Now()
	_, err := c.Send(context.Background(), oneEvent)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s: the server's Retry-After of an hour was not capped, or MaxElapsed not kept", took)
	}
	calls := len(a.times())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("gave up after %d attempts", calls)) {
		t.Fatalf("got %v, want to give up after %d attempts", err, calls)
	}
	if calls < 2 || calls > 11 {
		t.Errorf("%d requests in 200ms with waits of 20ms", calls)
	}
}

func TestClientStopsWhenTheContextIsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			cancel()
			status(http.StatusServiceUnavailable, "30", `{"error":"busy"}`)(w, r)
		},
	}}
	c := newClient(t, a)
	start := time.Now()
	_, err := c.Send(ctx, oneEvent)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned after %s, not at the cancellation", took)
	}
	if n := len(a.times()); n != 1 {
		t.Errorf("%d requests after the cancellation, want 1", n)
	}
}

func TestClientKeepsTheTokenOutOfErrors(t *testing.T) {
	echo := func(code int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"error":"refused %s"}`, r.Header.Get("Authorization"))
		}
	}
	for _, code := range []int{http.StatusUnauthorized, http.StatusServiceUnavailable} {
		a := &answers{reply: []func(http.ResponseWriter, *http.Request){echo(code)}}
		c := newClient(t, a)
		c.Retries = 1
		_, err := c.Send(context.Background(), oneEvent)
		if err == nil || strings.Contains(err.Error(), "t0ken-s3cret") || !strings.Contains(err.Error(), "refused Bearer xxxxx") {
			t.Errorf("HTTP %d: got %v, want the token replaced", code, err)
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), "t0ken-s3cret") {
				t.Errorf("HTTP %d: a wrapped error holds the token: %v", code, e)
			}
		}
	}
}

func TestClientSendsBatchesAndShiftsRejections(t *testing.T) {
	var batches []int
	var mu sync.Mutex
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			var res signals.Result
			body, _ := io.ReadAll(r.Body)
			res.Received = strings.Count(string(body), "\n")
			res.Accepted = res.Received - 1
			res.Rejected = []signals.Rejection{{Index: 1, Error: "bad"}}
			mu.Lock()
			batches = append(batches, res.Received)
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(res)
		},
	}}
	c := newClient(t, a)
	c.BatchSize = 2
	events := []json.RawMessage{json.RawMessage(`{"a": 1}`), json.RawMessage("not\njson"), json.RawMessage(`{}`),
		json.RawMessage(`{}`), json.RawMessage(`{}`)}
	total, err := c.Send(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(batches) != "[2 2 1]" {
		t.Errorf("batches of %v, want [2 2 1]", batches)
	}
	if total.Received != 5 || total.Accepted != 2 || len(total.Rejected) != 3 ||
		total.Rejected[0].Index != 1 || total.Rejected[1].Index != 3 || total.Rejected[2].Index != 5 {
		t.Errorf("total = %+v", total)
	}
}

func TestClientNamesTheEventsOfAFailedBatch(t *testing.T) {
	a := &answers{reply: []func(http.ResponseWriter, *http.Request){
		accept,
		status(http.StatusBadRequest, "", `{"error":"not a batch"}`),
	}}
	c := newClient(t, a)
	c.BatchSize = 2
	_, err := c.Send(context.Background(), []json.RawMessage{oneEvent[0], oneEvent[0], oneEvent[0]})
	if err == nil || !strings.HasPrefix(err.Error(), "events 2 to 2: ") {
		t.Fatalf("got %v, want the error to name events 2 to 2", err)
	}
}

func TestAddShiftedShiftsRejectionsToFileIndexes(t *testing.T) {
	var total signals.Result
	addShifted(&total, signals.Result{Received: 2, Accepted: 1, Rejected: []signals.Rejection{{Index: 1, Error: "bad"}},
		NotEnriched: map[string]int{"country": 1}}, 0)
	addShifted(&total, signals.Result{Received: 2, Accepted: 1, Duplicates: 1, FindingsCreated: 2,
		Rejected: []signals.Rejection{{Index: 0, Error: "worse"}}, NotEnriched: map[string]int{"country": 2}}, 2)
	if total.Received != 4 || total.Accepted != 2 || total.Duplicates != 1 || total.FindingsCreated != 2 ||
		len(total.Rejected) != 2 || total.Rejected[1].Index != 2 || total.NotEnriched["country"] != 3 {
		t.Errorf("total = %+v", total)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		value string
		want  time.Duration
		ok    bool
	}{
		"seconds":         {"120", 2 * time.Minute, true},
		"zero":            {"0", 0, false},
		"negative":        {"-5", 0, false},
		"empty":           {"", 0, false},
		"an HTTP date":    {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		"a date gone by":  {now.Add(-time.Hour).Format(http.TimeFormat), 0, false},
		"not a duration":  {"soon", 0, false},
		"spaces and secs": {" 3 ", 3 * time.Second, true},
	}
	for name, tt := range tests {
		if got, ok := retryAfter(tt.value, now); got != tt.want || ok != tt.ok {
			t.Errorf("%s: retryAfter(%q) = %s, %v; want %s, %v", name, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}
