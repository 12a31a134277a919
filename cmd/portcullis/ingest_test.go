package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8082":             "http://127.0.0.1:8082/v1/signins",
		"https://ingest.example.com/":       "https://ingest.example.com/v1/signins",
		"https://gw.example.com/portcullis": "https://gw.example.com/portcullis",
	} {
		if got, err := endpointURL(in); err != nil || got != want {
			t.Errorf("endpointURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:8082", "ftp://x", "http://"} {
		if _, err := endpointURL(bad); err == nil || !strings.Contains(err.Error(), "--url") {
			t.Errorf("endpointURL(%q) = %v, want an error naming --url", bad, err)
		}
	}
}

func TestAddShiftsRejectionsToFileIndexes(t *testing.T) {
	var total signals.Result
	add(&total, signals.Result{Received: 2, Accepted: 1, Rejected: []signals.Rejection{{Index: 1, Error: "bad"}},
		NotEnriched: map[string]int{"country": 1}}, 0)
	add(&total, signals.Result{Received: 2, Accepted: 1, Duplicates: 1, FindingsCreated: 2,
		Rejected: []signals.Rejection{{Index: 0, Error: "worse"}}, NotEnriched: map[string]int{"country": 2}}, 2)
	if total.Received != 4 || total.Accepted != 2 || total.Duplicates != 1 || total.FindingsCreated != 2 ||
		len(total.Rejected) != 2 || total.Rejected[1].Index != 2 || total.NotEnriched["country"] != 3 {
		t.Errorf("total = %+v", total)
	}
}

func TestReplayKeepsTheGaps(t *testing.T) {
	events := []json.RawMessage{
		json.RawMessage(`{"contractor":"a/b","ip":"192.0.2.1","time":"2026-01-01T10:00:00Z","n":1.50}`),
		json.RawMessage(`{"contractor":"a/b","ip":"192.0.2.1","time":"2026-01-01T12:00:00Z"}`),
		json.RawMessage(`not json`),
	}
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	replay(events, now)
	var first, last struct {
		Time time.Time `json:"time"`
		N    json.Number
	}
	if json.Unmarshal(events[0], &first) != nil || json.Unmarshal(events[1], &last) != nil {
		t.Fatalf("events = %s", events)
	}
	if !last.Time.Equal(now) || last.Time.Sub(first.Time) != 2*time.Hour || !strings.Contains(string(events[0]), `"n":1.50`) {
		t.Errorf("replayed = %s", events)
	}
	if string(events[2]) != "not json" {
		t.Errorf("a bad event was changed: %s", events[2])
	}
}

func TestSendWaitsForRetryAfter(t *testing.T) {
	var calls []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, time.Now())
		switch len(calls) {
		case 1:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"over the rate"}`))
		case 2:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"not a batch"}`))
		}
	}))
	defer srv.Close()
	s := sender{client: srv.Client(), url: srv.URL, token: "t", opts: ingestOptions{retries: 3}}
	_, err := s.send(context.Background(), []json.RawMessage{json.RawMessage(`{}`)})
	if err == nil || !strings.Contains(err.Error(), "not a batch") {
		t.Fatalf("got %v, want the 400 after one retry", err)
	}
	if len(calls) != 2 {
		t.Fatalf("%d requests, want 2: a 429 is retried, a 400 is not", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < 2*time.Second {
		t.Errorf("sent again after %s, before the server's Retry-After of 2s", gap)
	}
}
