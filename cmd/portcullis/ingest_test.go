package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
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

func TestReplayWeeks(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 500, time.UTC)
	// want is checked where a person can count it; every case must move
	// the latest into the week before now, which fixes the number of weeks.
	const anyWeeks = math.MinInt64
	tests := map[string]struct {
		latest time.Time
		want   int64
	}{
		"now":                           {now, 0},
		"a nanosecond ago":              {now.Add(-time.Nanosecond), 0},
		"six days and 23 hours ago":     {now.Add(-week + time.Hour), 0},
		"a week and a nanosecond ago":   {now.Add(-week - time.Nanosecond), 1},
		"exactly a week ago":            {now.Add(-week), 1},
		"exactly three weeks ago":       {now.Add(-3 * week), 3},
		"three weeks less a nanosecond": {now.Add(-3*week + time.Nanosecond), 2},
		"a year ago":                    {now.AddDate(-1, 0, 0), 52},
		"a nanosecond ahead":            {now.Add(time.Nanosecond), -1},
		"exactly a week ahead":          {now.Add(week), -1},
		"a week and a second ahead":     {now.Add(week + time.Second), -2},
		// Further than a time.Duration reaches (292 years).
		"in the year 1000":  {time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), anyWeeks},
		"in the year 9999":  {time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), anyWeeks},
		"the earliest time": {time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), anyWeeks},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := replayWeeks(tt.latest, now)
			if tt.want != anyWeeks && got != tt.want {
				t.Errorf("replayWeeks(%s) = %d, want %d", tt.latest, got, tt.want)
			}
			moved := tt.latest.AddDate(0, 0, int(got)*7)
			if moved.After(now) || !moved.After(now.Add(-week)) {
				t.Errorf("the latest moves to %s, not within the week before %s", moved, now)
			}
		})
	}
}

// replayed is what a test reads back of a replayed event.
type replayed struct {
	Time time.Time `json:"time"`
}

func TestReplayKeepsWeekdayTimeOfDayAndGaps(t *testing.T) {
	events := []json.RawMessage{
		json.RawMessage(`{"contractor":"a/b","ip":"192.0.2.1","time":"2026-01-01T10:00:00.123456789Z","n":1.50}`),
		json.RawMessage(`{"contractor":"a/b","ip":"192.0.2.1","time":"2026-01-01T04:00:00-08:00"}`),
		json.RawMessage(`not json`),
		json.RawMessage(`{"ip":"192.0.2.1"}`),
		json.RawMessage(`{"time":null}`),
		json.RawMessage(`{"time":1767261600}`),
		json.RawMessage(`["time","2026-01-01T12:00:00Z"]`),
		// encoding/json would read "TIME" as time; the server does not, and
		// neither does replay: it neither moves it nor moves the others by it.
		json.RawMessage(`{"TIME":"2030-01-01T00:00:00Z","ip":"192.0.2.1"}`),
	}
	original := slices.Clone(events)
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC) // a Sunday
	replay(events, now)
	var first, last replayed
	if json.Unmarshal(events[0], &first) != nil || json.Unmarshal(events[1], &last) != nil {
		t.Fatalf("events = %s", events)
	}
	if last.Time.After(now) || !last.Time.After(now.Add(-week)) {
		t.Errorf("the latest is at %s, not within the week before %s", last.Time, now)
	}
	if gap := last.Time.Sub(first.Time); gap != 2*time.Hour-123456789*time.Nanosecond {
		t.Errorf("the gap is %s, want the original 1h59m59.876543211s", gap)
	}
	checkMovedByWeeks(t, time.Date(2026, 1, 1, 10, 0, 0, 123456789, time.UTC), first.Time)
	checkMovedByWeeks(t, time.Date(2026, 1, 1, 4, 0, 0, 0, time.FixedZone("", -8*3600)), last.Time)
	if !strings.Contains(string(events[0]), `"n":1.50`) {
		t.Errorf("other fields changed: %s", events[0])
	}
	for i := 2; i < len(events); i++ {
		if string(events[i]) != string(original[i]) {
			t.Errorf("event %d, without a time the server reads, was changed: %s", i, events[i])
		}
	}
}

// checkMovedByWeeks fails unless got is the time was, moved by whole weeks:
// written in the same offset, on the same weekday at the same time of day.
func checkMovedByWeeks(t *testing.T, was, got time.Time) {
	t.Helper()
	_, wasOffset := was.Zone()
	_, gotOffset := got.Zone()
	if got.Sub(was)%week != 0 || gotOffset != wasOffset || got.Weekday() != was.Weekday() ||
		got.Format("15:04:05.999999999") != was.Format("15:04:05.999999999") {
		t.Errorf("%s moved to %s: not by whole weeks, or not in its own offset", was, got)
	}
}

func TestReplayLeavesTheLastWeekAlone(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for _, latest := range []string{"2026-11-29T08:00:00Z", "2026-11-22T08:00:01Z", "2026-11-29T00:00:00-08:00"} {
		events := []json.RawMessage{
			json.RawMessage(`{"time":"2026-10-01T00:00:00Z"}`),
			json.RawMessage(`{"time":"` + latest + `"}`),
		}
		original := slices.Clone(events)
		replay(events, now)
		if !slices.EqualFunc(events, original, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("latest %s: events moved to %s", latest, events)
		}
	}
}

func TestReplayMovesTheSamplesIntoTheWindow(t *testing.T) {
	raw, err := os.ReadFile("../../config/samples/signins.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	events, err := signals.Split(raw)
	if err != nil {
		t.Fatal(err)
	}
	before := make([]time.Time, len(events))
	for i, e := range events {
		before[i] = eventTime(e)
	}
	now := time.Date(2027, 3, 15, 9, 30, 0, 0, time.UTC)
	replay(events, now)
	valid, rejected, err := signals.Parse(bytes.Join(bytesOf(events), []byte("\n")), now, signals.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	// The last sample event is malformed on purpose; none is out of the window.
	if len(valid) != len(events)-1 || len(rejected) != 1 || !strings.Contains(rejected[0].Error, "not an IP address") {
		t.Errorf("after replay: %d valid, rejected %+v", len(valid), rejected)
	}
	for i, e := range events {
		after := eventTime(e)
		if after.Weekday() != before[i].Weekday() || after.Format("15:04:05") != before[i].Format("15:04:05") {
			t.Errorf("event %d moved from %s to %s", i, before[i], after)
		}
	}
}

func bytesOf(events []json.RawMessage) [][]byte {
	out := make([][]byte, len(events))
	for i, e := range events {
		out[i] = e
	}
	return out
}

// ingestServer answers POST /v1/signins as the manager would, validating
// the events with signals.Parse, and keeps the bodies it was sent.
func ingestServer(t *testing.T, now time.Time) (*httptest.Server, *[]string) {
	t.Helper()
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(body))
		valid, rejected, err := signals.Parse(body, now, signals.DefaultLimits())
		if err != nil || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(signals.Result{Received: len(valid) + len(rejected), Accepted: len(valid), Rejected: rejected})
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func TestIngestOktaExport(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	srv, bodies := ingestServer(t, now)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "ingest", "-f", "../../internal/idplogs/testdata/okta.ndjson", "--format", "okta", "--system", "okta-prod",
		"--url", srv.URL, "--token-file", token)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	for _, want := range []string{"Read 1 sign-ins from the okta export", "skipped 2 other records", "1 accepted, 0 duplicates, 0 rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(*bodies) != 1 || !strings.Contains((*bodies)[0], `"account":{"system":"okta-prod","id":"sam@contractors.example.com","aliases":["00u1"]}`) ||
		!strings.Contains((*bodies)[0], `"ip":"203.0.113.7"`) {
		t.Errorf("sent %q", *bodies)
	}

	for _, tt := range []struct{ args []string }{
		{[]string{"--format", "okta"}},
		{[]string{"--format", "onelogin", "--system", "x"}},
		{[]string{"--system", "okta-prod"}},
	} {
		args := append([]string{"ingest", "-f", "../../internal/idplogs/testdata/okta.ndjson", "--url", srv.URL, "--token-file", token}, tt.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("ingest %v = %v, want a flag error", tt.args, err)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"eventType": }]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "ingest", "-f", bad, "--format", "okta", "--system", "o", "--url", srv.URL, "--token-file", token); err == nil ||
		!strings.Contains(err.Error(), "okta export: malformed JSON") {
		t.Errorf("ingest of malformed export = %v", err)
	}
}
