package signals

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
		2: "must be namespace/name: want two parts", 3: "not an IP address", 4: "in the future", 5: "older than",
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

// TestParseIsStrict sends each hostile event between two good ones, as
// NDJSON and as a JSON array: it is rejected by its index with the reason,
// and both good events are kept.
func TestParseIsStrict(t *testing.T) {
	good := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`
	const at = `"time":"2026-11-28T11:00:00Z"`
	for _, tc := range []struct {
		name, event, reason string
	}{
		{"a key in the wrong case", `{"contractor":"ns/a","IP":"198.51.100.1",` + at + `}`, `unknown field "IP"`},
		{"a wrongly cased key beside the right one", `{"contractor":"ns/a","ip":"198.51.100.1","Ip":"198.51.100.2",` + at + `}`, `unknown field "Ip"`},
		{"a key in the wrong case in the account", `{"account":{"System":"okta","id":"a"},"ip":"198.51.100.1",` + at + `}`, `unknown field "account.System"`},
		{"an unknown key in the account", `{"account":{"system":"okta","id":"a","role":"x"},"ip":"198.51.100.1",` + at + `}`, `unknown field "account.role"`},
		{"a key given twice", `{"contractor":"ns/a","ip":"198.51.100.1","ip":"10.0.0.1",` + at + `}`, `field "ip" is given twice`},
		{"an IPv6 address with a zone", `{"contractor":"ns/a","ip":"fe80::1%eth0",` + at + `}`, `has a zone`},
		{"an IPv4-mapped address with a zone", `{"contractor":"ns/a","ip":"::ffff:198.51.100.1%1",` + at + `}`, `has a zone`},
		{"invalid UTF-8 in a value", "{\"contractor\":\"ns/a\",\"ip\":\"198.51.100.1\",\"userAgent\":\"curl\xff\xfe\"," + at + "}", "not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"contractor\":\"ns/a\",\"ip\":\"198.51.100.1\",\"\xc3(\":\"x\"," + at + "}", "not valid UTF-8"},
		{"a lone high surrogate", `{"contractor":"ns/a","ip":"198.51.100.1","deviceID":"\ud800x",` + at + `}`, "unpaired UTF-16 surrogate"},
		{"a lone low surrogate", `{"contractor":"ns/a","ip":"198.51.100.1","deviceID":"\udc00",` + at + `}`, "unpaired UTF-16 surrogate"},
		{"surrogates in the wrong order", `{"contractor":"ns/a","ip":"198.51.100.1","deviceID":"\ude00\ud83d",` + at + `}`, "unpaired UTF-16 surrogate"},
		{"a path as contractor", `{"contractor":"../etc","ip":"198.51.100.1",` + at + `}`, `contractor "../etc" must be namespace/name: the namespace is not a valid namespace name`},
		{"a path in the contractor's name", `{"contractor":"ns/../etc","ip":"198.51.100.1",` + at + `}`, "the name is not a valid object name"},
		{"an upper-case name", `{"contractor":"ns/Alex","ip":"198.51.100.1",` + at + `}`, "the name is not a valid object name"},
		{"an array as event", `[` + good + `]`, "want a JSON object, not an array"},
		{"a number as ip", `{"contractor":"ns/a","ip":7,` + at + `}`, "not a sign-in event"},
		{"a time that is not RFC 3339", `{"contractor":"ns/a","ip":"198.51.100.1","time":"yesterday"}`, "not a sign-in event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for shape, body := range map[string]string{
				"ndjson": good + "\n" + tc.event + "\n" + good,
				"array":  "[" + good + "," + tc.event + "," + good + "]",
			} {
				valid, rejected, err := Parse([]byte(body), now, DefaultLimits())
				if err != nil {
					t.Fatalf("%s: the batch failed: %v", shape, err)
				}
				if len(valid) != 2 || valid[0].Index != 0 || valid[1].Index != 2 {
					t.Errorf("%s: valid = %+v", shape, valid)
				}
				if len(rejected) != 1 || rejected[0].Index != 1 || !strings.Contains(rejected[0].Error, tc.reason) {
					t.Errorf("%s: rejected = %+v, want event 1: %q", shape, rejected, tc.reason)
				}
			}
		})
	}
}

func TestParseRejectsASecondObjectOnALine(t *testing.T) {
	good := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`
	valid, rejected, err := Parse([]byte(good+"\n"+good+` {"contractor":"ns/b"}`+"\n"+good), now, DefaultLimits())
	if err != nil || len(valid) != 2 || len(rejected) != 1 || rejected[0].Index != 1 ||
		!strings.Contains(rejected[0].Error, "more JSON after the event") {
		t.Errorf("valid %+v, rejected %+v, %v", valid, rejected, err)
	}
}

func TestParseTakesWhatIsValid(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		check       func(Valid) bool
	}{
		{"a surrogate pair", `{"contractor":"ns/a","ip":"2001:db8::1","userAgent":"\ud83d\ude00 \u00e9","time":"2026-11-28T11:00:00Z"}`,
			func(v Valid) bool { return v.Event.UserAgent == "😀 é" }},
		{"an escaped key", `{"contractor":"ns/a","\u0069p":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`,
			func(v Valid) bool { return v.Addr.String() == "198.51.100.1" }},
		{"an IPv4-mapped address", `{"contractor":"ns/a","ip":"::ffff:198.51.100.1","time":"2026-11-28T11:00:00Z"}`,
			func(v Valid) bool { return v.Addr.Is4() }},
		{"a null account beside a contractor", `{"contractor":"ns/a","account":null,"ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`,
			func(v Valid) bool { return v.Event.Account == nil }},
	} {
		valid, rejected, err := Parse([]byte(tc.event), now, DefaultLimits())
		if err != nil || len(rejected) != 0 || len(valid) != 1 || !tc.check(valid[0]) {
			t.Errorf("%s: valid %+v, rejected %+v, %v", tc.name, valid, rejected, err)
		}
	}
}

func TestParseNeverEchoesMuch(t *testing.T) {
	long := strings.Repeat("x", 10000)
	for _, event := range []string{
		`{"contractor":"` + long + `","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`,
		`{"contractor":"ns/a","ip":"` + long + `","time":"2026-11-28T11:00:00Z"}`,
		`{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z","timezone":"` + long + `"}`,
	} {
		_, rejected, err := Parse([]byte(event), now, DefaultLimits())
		if err != nil || len(rejected) != 1 || len(rejected[0].Error) > 300 {
			t.Errorf("rejected = %.400v, %v", rejected, err)
		}
	}
}

func TestParseRefusesBodiesThatAreNoBatch(t *testing.T) {
	good := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`
	for _, body := range []string{
		"[" + good + "] " + good,
		"[" + good + "]]",
		"[" + good + " " + good + "]",
		"[" + good + ",",
	} {
		if _, _, err := Parse([]byte(body), now, DefaultLimits()); err == nil {
			t.Errorf("%q passed", body)
		}
	}
}

// endless is a body of events that never ends; read counts what was read.
type endless struct {
	line []byte
	off  int
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	e.read += int64(n)
	return n, nil
}

func TestDecodeStopsReadingAtTheLimits(t *testing.T) {
	event := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`
	for _, tc := range []struct {
		name  string
		start string
		line  string
	}{{"ndjson", "", event + "\n"}, {"array", "[", event + ","}} {
		body := &endless{line: []byte(tc.line)}
		_, _, err := Decode(io.MultiReader(strings.NewReader(tc.start), body), now, Limits{MaxEvents: 100})
		if !errors.Is(err, ErrTooManyEvents) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// 101 events and one buffer of read-ahead.
		if limit := int64(101*len(tc.line) + 2*MaxEventBytes); body.read > limit {
			t.Errorf("%s: read %d bytes of an endless body, more than %d", tc.name, body.read, limit)
		}
	}
}

func TestDecodeSkipsOverlongLines(t *testing.T) {
	good := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`
	long := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z","userAgent":"` + strings.Repeat("a", 3*MaxEventBytes) + `"}`
	valid, rejected, err := Parse([]byte(good+"\n"+long+"\n"+good), now, DefaultLimits())
	if err != nil || len(valid) != 2 || valid[1].Index != 2 || len(rejected) != 1 || !strings.Contains(rejected[0].Error, "longer than") {
		t.Errorf("valid %+v, rejected %+v, %v", valid, rejected, err)
	}
	// In an array, the element is read, then refused for its length.
	valid, rejected, err = Parse([]byte("["+good+","+long+","+good+"]"), now, DefaultLimits())
	if err != nil || len(valid) != 2 || len(rejected) != 1 || !strings.Contains(rejected[0].Error, "longer than") {
		t.Errorf("array: valid %+v, rejected %+v, %v", valid, rejected, err)
	}
}

var errRead = errors.New("the client went away")

type failing struct{ after io.Reader }

func (f failing) Read(p []byte) (int, error) {
	if n, err := f.after.Read(p); n > 0 || !errors.Is(err, io.EOF) {
		return n, err
	}
	return 0, errRead
}

func TestDecodePassesReadErrorsOn(t *testing.T) {
	good := `{"contractor":"ns/a","ip":"198.51.100.1","time":"2026-11-28T11:00:00Z"}`
	for _, body := range []string{"", good + "\n" + good, "[" + good + "," + good} {
		if _, _, err := Decode(failing{strings.NewReader(body)}, now, DefaultLimits()); !errors.Is(err, errRead) {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`[{"contractor": "ns/a", "ip": "198.51.100.1", "time": "2026-11-28T11:00:00Z"}]`,
		`{"account": {"system": "s", "id": "i"}, "ip": "::1", "time": "2026-11-28T11:00:00Z", "timezone": "UTC"}`,
		"[1, \"x\", null, {}]",
		"{}\n{\"ip\": 5}\n",
		`{"contractor": "ns/a", "IP": "fe80::1%eth0", "ip": "\ud800", "time": "2026-11-28T11:00:00Z"}`,
		"[{\"contractor\": \"../etc\", \"userAgent\": \"\xff\"}]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		valid, rejected, err := Parse(body, now, DefaultLimits())
		if err == nil {
			checkParsed(t, body, valid, rejected)
		}
	})
}

// checkParsed fails unless every event has one verdict, the rejections a
// reason, and the valid events an address without a zone, a time, a
// contractor or an account, and no U+FFFD that the body did not send.
func checkParsed(t *testing.T, body []byte, valid []Valid, rejected []Rejection) {
	seen := map[int]bool{}
	sentFFFD := bytes.ContainsRune(body, utf8.RuneError) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
	for _, v := range valid {
		if seen[v.Index] || !v.Addr.IsValid() || v.Addr.Zone() != "" || v.Event.Time.IsZero() {
			t.Fatalf("bad valid event %+v", v)
		}
		if _, ok := ParseKey(v.Event.Contractor); v.Event.Account == nil && !ok {
			t.Fatalf("valid event %d names no contractor: %q", v.Index, v.Event.Contractor)
		}
		if !sentFFFD && strings.ContainsRune(fmt.Sprint(v.Event), utf8.RuneError) {
			t.Fatalf("valid event %d holds U+FFFD that the body did not send: %+v", v.Index, v.Event)
		}
		seen[v.Index] = true
	}
	for _, r := range rejected {
		if seen[r.Index] || r.Error == "" {
			t.Fatalf("event %d both accepted and rejected, or rejected without a reason", r.Index)
		}
		seen[r.Index] = true
	}
}
