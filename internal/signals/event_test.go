package signals

import (
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestParseKeepsGoodEventsAndExplainsBadOnes(t *testing.T) {
	body := `[
		{"contractor": "contractors/alex", "ip": "203.0.113.7", "time": "2026-11-28T11:59:00Z", "deviceID": "laptop-1"},
		{"account": {"system": "okta", "id": "alex@example.com"}, "ip": "2001:db8::1", "time": "2026-11-28T11:00:00Z", "timezone": "America/Chicago"},
		{"contractor": "alex", "ip": "203.0.113.7", "time": "2026-11-28T11:00:00Z"},
		{"contractor": "contractors/alex", "ip": "300.1.1.1", "time": "2026-11-28T11:00:00Z"},
		{"contractor": "contractors/alex", "ip": "203.0.113.7", "time": "2027-01-01T00:00:00Z"},
		{"contractor": "contractors/alex", "ip": "203.0.113.7", "time": "2020-01-01T00:00:00Z"},
		{"contractor": "contractors/alex", "ip": "203.0.113.7"},
		{"ip": "203.0.113.7", "time": "2026-11-28T11:00:00Z"},
		{"contractor": "contractors/alex", "ip": "203.0.113.7", "time": "2026-11-28T11:00:00Z", "color": "red"},
		{"contractor": "contractors/alex", "ip": "203.0.113.7", "time": "2026-11-28T11:00:00Z", "timezone": "Mars/Olympus"},
		"not an object"
	]`
	valid, rejected, err := Parse([]byte(body), now, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(valid) != 2 || valid[0].Index != 0 || valid[1].Index != 1 || !valid[1].Addr.Is6() {
		t.Fatalf("valid = %+v", valid)
	}
	want := map[int]string{
		2: "must be namespace/name", 3: "not an IP address", 4: "in the future", 5: "older than",
		6: "time is required", 7: "name the contractor", 8: `unknown field "color"`, 9: "not an IANA time zone",
		10: "not a sign-in event",
	}
	if len(rejected) != len(want) {
		t.Fatalf("rejected = %+v", rejected)
	}
	for _, r := range rejected {
		if !strings.Contains(r.Error, want[r.Index]) {
			t.Errorf("event %d: %q lacks %q", r.Index, r.Error, want[r.Index])
		}
	}
}

func TestParseNDJSONAndLimits(t *testing.T) {
	line := `{"contractor": "ns/a", "ip": "198.51.100.1", "time": "2026-11-28T11:00:00Z"}`
	valid, rejected, err := Parse([]byte(line+"\n\n"+line+"\n"), now, DefaultLimits())
	if err != nil || len(valid) != 2 || len(rejected) != 0 {
		t.Fatalf("NDJSON: %d valid, %v, %v", len(valid), rejected, err)
	}
	if _, _, err := Parse([]byte(line+"\n"+line+"\n"+line), now, Limits{MaxEvents: 2}); err == nil {
		t.Error("three events passed a limit of two")
	}
	if _, _, err := Parse([]byte(`[{"contractor": `), now, DefaultLimits()); err == nil {
		t.Error("a truncated array passed")
	}
	if v, r, err := Parse([]byte("  "), now, DefaultLimits()); err != nil || len(v)+len(r) != 0 {
		t.Error("an empty body is no events")
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`[{"contractor": "ns/a", "ip": "198.51.100.1", "time": "2026-11-28T11:00:00Z"}]`,
		`{"account": {"system": "s", "id": "i"}, "ip": "::1", "time": "2026-11-28T11:00:00Z", "timezone": "UTC"}`,
		"[1, \"x\", null, {}]",
		"{}\n{\"ip\": 5}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		valid, rejected, err := Parse(body, now, DefaultLimits())
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, v := range valid {
			if seen[v.Index] || !v.Addr.IsValid() || v.Event.Time.IsZero() {
				t.Fatalf("bad valid event %+v", v)
			}
			seen[v.Index] = true
		}
		for _, r := range rejected {
			if seen[r.Index] || r.Error == "" {
				t.Fatalf("event %d both accepted and rejected, or rejected without a reason", r.Index)
			}
			seen[r.Index] = true
		}
	})
}
