package idplogs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
	"github.com/portcullis-dev/portcullis/test/googleserver"
	"github.com/portcullis-dev/portcullis/test/graphserver"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

var at = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func convert(t *testing.T, format string, body []byte) ([]signals.Event, int) {
	t.Helper()
	events, skipped, err := Convert(format, "idp", bytes.NewReader(body), DefaultMaxBytes)
	if err != nil {
		t.Fatalf("Convert(%s): %v", format, err)
	}
	return events, skipped
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// checkOne fails unless events is the one sign-in want, and skipped is
// wantSkipped; the event must pass the server's validation.
func checkOne(t *testing.T, events []signals.Event, skipped, wantSkipped int, want signals.Event) {
	t.Helper()
	if len(events) != 1 || skipped != wantSkipped {
		t.Fatalf("got %d events %+v, %d skipped; want 1 event, %d skipped", len(events), events, skipped, wantSkipped)
	}
	got := events[0]
	if !reflect.DeepEqual(got.Account, want.Account) || got.IP != want.IP || !got.Time.Equal(want.Time) ||
		got.DeviceID != want.DeviceID || got.UserAgent != want.UserAgent || !reflect.DeepEqual(got.Provider, want.Provider) {
		t.Errorf("event = %+v (account %+v, provider %+v), want %+v (account %+v, provider %+v)",
			got, got.Account, got.Provider, want, want.Account, want.Provider)
	}
	valid, rejected, err := signals.Parse(marshal(t, events), want.Time.Add(time.Hour), signals.DefaultLimits())
	if err != nil || len(valid) != 1 || len(rejected) != 0 {
		t.Errorf("signals.Parse: %d valid, rejected %+v, %v", len(valid), rejected, err)
	}
}

func TestConvertOktaFromTheFake(t *testing.T) {
	reason := "INVALID_CREDENTIALS"
	ok := oktaserver.LogEvent{Published: at, EventType: "user.authentication.sso",
		Actor:   oktaserver.LogActor{ID: "00u1", Type: "User", AlternateID: "sam@contractors.example.com"},
		Client:  oktaserver.LogClient{IPAddress: "203.0.113.7", UserAgent: oktaserver.LogUserAgent{RawUserAgent: "curl/8"}},
		Outcome: oktaserver.LogOutcome{Result: "SUCCESS"}}
	failed := ok
	failed.Outcome = oktaserver.LogOutcome{Result: "FAILURE", Reason: &reason}
	other := ok
	other.EventType = "user.session.end"
	events, skipped := convert(t, Okta, marshal(t, []oktaserver.LogEvent{failed, ok, other}))
	checkOne(t, events, skipped, 2, signals.Event{Account: &signals.AccountRef{System: "idp", ID: "sam@contractors.example.com", Aliases: []string{"00u1"}},
		IP: "203.0.113.7", Time: at, UserAgent: "curl/8"})
}

func TestConvertOktaNDJSON(t *testing.T) {
	body, err := os.ReadFile("testdata/okta.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	events, skipped := convert(t, Okta, body)
	checkOne(t, events, skipped, 2, signals.Event{Account: &signals.AccountRef{System: "idp", ID: "sam@contractors.example.com", Aliases: []string{"00u1"}},
		IP: "203.0.113.7", Time: at, UserAgent: "Mozilla/5.0 (Macintosh)", DeviceID: "guo1"})
}

func TestConvertEntraFromTheFake(t *testing.T) {
	reason := "Invalid username or password."
	ok := graphserver.SignIn{ID: "a", CreatedDateTime: at, UserPrincipalName: "kim@contoso.example", IPAddress: "2001:db8::7",
		DeviceDetail: graphserver.DeviceDetail{DeviceID: "dev-42"}}
	failed := ok
	failed.Status = graphserver.SignInStatus{ErrorCode: 50126, FailureReason: &reason}
	page := map[string]any{"@odata.context": "x", "value": []graphserver.SignIn{failed, ok}}
	want := signals.Event{Account: &signals.AccountRef{System: "idp", ID: "kim@contoso.example"}, IP: "2001:db8::7", Time: at, DeviceID: "dev-42"}
	events, skipped := convert(t, Entra, marshal(t, page))
	checkOne(t, events, skipped, 1, want)
	// A bare array reads the same.
	events, skipped = convert(t, Entra, marshal(t, []graphserver.SignIn{failed, ok}))
	checkOne(t, events, skipped, 1, want)
}

func TestConvertEntraPage(t *testing.T) {
	body, err := os.ReadFile("testdata/entra.json")
	if err != nil {
		t.Fatal(err)
	}
	events, skipped := convert(t, Entra, body)
	checkOne(t, events, skipped, 1, signals.Event{Account: &signals.AccountRef{System: "idp", ID: "kim@contoso.example"},
		IP: "2001:db8::7", Time: at, DeviceID: "dev-42", Provider: &signals.ProviderView{Name: "entra", Country: "US"}})
}

func TestConvertGoogleFromTheFake(t *testing.T) {
	activity := func(name string) googleserver.Activity {
		return googleserver.Activity{Kind: "admin#reports#activity",
			ID:        googleserver.ActivityID{Time: at, UniqueQualifier: 1, ApplicationName: "login", CustomerID: "C01"},
			Actor:     googleserver.Actor{Email: "lee@example.org"},
			IPAddress: "192.0.2.44",
			Events:    []googleserver.Event{googleserver.LoginEvent(name, "google_password", false)}}
	}
	body := marshal(t, map[string]any{"kind": "admin#reports#activities",
		"items": []googleserver.Activity{activity("login_failure"), activity("login_success"), activity("logout")}})
	events, skipped := convert(t, Google, body)
	checkOne(t, events, skipped, 2, signals.Event{Account: &signals.AccountRef{System: "idp", ID: "lee@example.org"}, IP: "192.0.2.44", Time: at})
}

func TestConvertGooglePage(t *testing.T) {
	body, err := os.ReadFile("testdata/google.json")
	if err != nil {
		t.Fatal(err)
	}
	events, skipped := convert(t, Google, body)
	checkOne(t, events, skipped, 2, signals.Event{Account: &signals.AccountRef{System: "idp", ID: "lee@example.org", Aliases: []string{"1"}}, IP: "192.0.2.44", Time: at})
}

func TestConvertMalformed(t *testing.T) {
	for _, tt := range []struct{ format, body, want string }{
		{Okta, `[{"eventType":"user.session.start"},` + "\n" + `{"eventType": }]`, "okta export: malformed JSON near byte 52"},
		{Okta, `{"eventType":"user.session.start"`, "okta export: malformed JSON: it ends inside a value"},
		{Entra, `{"value":{"id":"a"}}`, `entra export: the page at byte 0: "value" is not an array of records`},
		{Entra, `[{"status":{"errorCode":"0"}}]`, "entra export: record 0: "},
		{Google, `"login_success"`, "google export: the value at byte 0 is neither a record nor an array"},
		{Google, `[{"id":{"time":"yesterday","applicationName":"login"},"actor":{"email":"sam@example.com"},"events":[{"name":"login_success"}]}]`, `google export: record 0: id.time "yesterday" is not an RFC 3339 time`},
		{"onelogin", `[]`, `unknown export format "onelogin"`},
	} {
		_, _, err := Convert(tt.format, "idp", strings.NewReader(tt.body), DefaultMaxBytes)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Convert(%s, %s) = %v, want an error containing %q", tt.format, tt.body, err, tt.want)
		}
	}
	if _, _, err := Convert(Okta, "", strings.NewReader(`[]`), DefaultMaxBytes); err == nil || !strings.Contains(err.Error(), "system") {
		t.Errorf("Convert without a system = %v, want an error naming the system", err)
	}
}

func TestConvertOversize(t *testing.T) {
	body, err := os.ReadFile("testdata/google.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Convert(Google, "idp", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Errorf("an export of exactly the limit: %v", err)
	}
	_, _, err = Convert(Google, "idp", bytes.NewReader(body), int64(len(body)-1))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "google export") {
		t.Errorf("an export a byte over the limit: %v, want ErrTooLarge", err)
	}
}

func TestConvertTooManyEvents(t *testing.T) {
	line := `{"published":"2026-11-28T10:00:00.000Z","eventType":"user.session.start","actor":{"alternateId":"a"},"client":{"ipAddress":"192.0.2.1"},"outcome":{"result":"SUCCESS"}}` + "\n"
	max := signals.DefaultLimits().MaxEvents
	if events, _, err := Convert(Okta, "idp", strings.NewReader(strings.Repeat(line, max)), DefaultMaxBytes); err != nil || len(events) != max {
		t.Errorf("%d events: %d, %v", max, len(events), err)
	}
	_, _, err := Convert(Okta, "idp", strings.NewReader(strings.Repeat(line, max+1)), DefaultMaxBytes)
	if !errors.Is(err, signals.ErrTooManyEvents) {
		t.Errorf("%d events: %v, want ErrTooManyEvents", max+1, err)
	}
}

// A successful sign-in that names no account (a service principal's, a
// workload's) is no contractor's: skipped, not an error that would fail
// the whole export.
func TestConvertSkipsRecordsWithoutAnAccount(t *testing.T) {
	raw := `{"value":[{"createdDateTime":"2026-11-28T10:00:00Z","ipAddress":"203.0.113.7","status":{"errorCode":0}}]}`
	events, skipped, err := Convert(Entra, "entra", strings.NewReader(raw), DefaultMaxBytes)
	if err != nil || len(events) != 0 || skipped != 1 {
		t.Fatalf("Convert() = %v, %d skipped, %v", events, skipped, err)
	}
}
