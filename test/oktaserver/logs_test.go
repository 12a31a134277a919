package oktaserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func signIn(login string, at time.Time, typ, result string) LogEvent {
	return LogEvent{
		Published:      at,
		EventType:      typ,
		DisplayMessage: "User login to Okta",
		Actor:          LogActor{ID: "00uactor", Type: "User", AlternateID: login, DisplayName: login},
		Outcome:        LogOutcome{Result: result},
		Client: LogClient{
			UserAgent: LogUserAgent{RawUserAgent: "Mozilla/5.0", OS: "Mac OS X", Browser: "CHROME"},
			Zone:      "null", Device: "Computer", IPAddress: "203.0.113.7",
			GeographicalContext: &LogGeographicalContext{
				City: "Berlin", State: "Land Berlin", Country: "Germany", PostalCode: "10115",
				Geolocation: &LogGeolocation{Lat: 52.52, Lon: 13.40},
			},
		},
		SecurityContext: LogSecurityContext{AsNumber: ptr(64496), AsOrg: ptr("example"), ISP: ptr("Example ISP"), Domain: ptr("example.net"), IsProxy: ptr(false)},
		DebugContext:    LogDebugContext{DebugData: map[string]any{"threatSuspected": "false", "requestUri": "/idp/idx/identify"}},
		Request:         LogRequest{IPChain: []LogIPAddress{{IP: "203.0.113.7", Version: "V4"}}},
		Target:          []LogActor{{ID: "0oaapp", Type: "AppInstance", AlternateID: "Portal", DisplayName: "Portal"}},
	}
}

type gotEvent struct {
	UUID      string `json:"uuid"`
	Published string `json:"published"`
	EventType string `json:"eventType"`
}

// pollAll follows rel="next" until an empty page and returns the events
// and the last next link.
func (f *fixture) pollAll(link, auth string) ([]gotEvent, string) {
	f.t.Helper()
	var all []gotEvent
	for range 100 {
		r := f.call(http.MethodGet, link, auth)
		if r.status != http.StatusOK {
			f.t.Fatalf("GET %s: %d %s", link, r.status, r.body)
		}
		var page []gotEvent
		r.json(f.t, &page)
		link = nextLink(r)
		if link == "" {
			f.t.Fatalf("polling response without rel=next: %s", r.header.Values("Link"))
		}
		if len(page) == 0 {
			return all, link
		}
		all = append(all, page...)
	}
	f.t.Fatal("polling does not reach an empty page")
	return nil, ""
}

func TestLogsPolling(t *testing.T) {
	f := newFixture(t, Options{})
	start := f.clock.Now().Add(-time.Hour)
	var want []string
	for i := range 23 {
		typ := []string{"user.session.start", "user.authentication.sso", "user.account.lock"}[i%3]
		id := f.AddLogEvent(signIn(fmt.Sprintf("u%d@example.com", i), start.Add(time.Duration(i)*time.Minute), typ, "SUCCESS"))
		if typ != "user.account.lock" {
			want = append(want, id)
		}
	}
	auth := f.bearer(ScopeLogsRead)
	q := url.Values{
		"since":     {start.Add(-time.Minute).Format(time.RFC3339)},
		"filter":    {`eventType eq "user.session.start" or eventType eq "user.authentication.sso"`},
		"sortOrder": {"ASCENDING"},
		"limit":     {"4"},
	}
	got, next := f.pollAll("/api/v1/logs?"+q.Encode(), auth)
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = e.UUID
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("polled %d events, want %d in order", len(ids), len(want))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Published < got[i-1].Published {
			t.Fatalf("not ascending at %d", i)
		}
	}
	// The next link of an empty page still leads on; new events show up.
	r := f.call(http.MethodGet, next, auth)
	if r.status != http.StatusOK || string(r.body) != "[]\n" || nextLink(r) == "" {
		t.Fatalf("empty poll: %d %q %v", r.status, r.body, r.header.Values("Link"))
	}
	f.clock.Advance(time.Minute)
	newIDs := []string{
		f.AddLogEvent(signIn("late@example.com", time.Time{}, "user.session.start", "FAILURE")),
		f.AddLogEvent(signIn("late@example.com", time.Time{}, "user.account.lock", "SUCCESS")),
		f.AddLogEvent(signIn("late@example.com", time.Time{}, "user.authentication.sso", "SUCCESS")),
	}
	got, _ = f.pollAll(nextLink(r), auth)
	if len(got) != 2 || got[0].UUID != newIDs[0] || got[1].UUID != newIDs[2] {
		t.Fatalf("new events %v", got)
	}
	if got[0].Published != f.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("published %s", got[0].Published)
	}
}

func TestLogsBoundedAndShape(t *testing.T) {
	f := newFixture(t, Options{})
	base := f.clock.Now().Add(-30 * time.Minute)
	for i := range 10 {
		f.AddLogEvent(signIn("x@example.com", base.Add(time.Duration(i)*time.Minute), "user.session.start", "SUCCESS"))
	}
	auth := f.bearer(ScopeLogsRead)
	q := url.Values{
		"since": {base.Format(time.RFC3339)},
		"until": {base.Add(7 * time.Minute).Format(time.RFC3339)},
		"limit": {"3"},
	}
	var all []gotEvent
	link := "/api/v1/logs?" + q.Encode()
	for link != "" {
		r := f.call(http.MethodGet, link, auth)
		var page []gotEvent
		r.json(t, &page)
		all = append(all, page...)
		link = nextLink(r)
	}
	if len(all) != 7 {
		t.Fatalf("bounded got %d events, want 7", len(all))
	}
	q.Set("sortOrder", "DESCENDING")
	q.Del("limit")
	r := f.call(http.MethodGet, "/api/v1/logs?"+q.Encode(), auth)
	var desc []gotEvent
	r.json(t, &desc)
	if len(desc) != 7 || desc[0].UUID != all[6].UUID || nextLink(r) != "" {
		t.Fatalf("descending: %d events, next %q", len(desc), nextLink(r))
	}

	// The wire shape follows Okta's LogEvent.
	var raw []map[string]any
	f.call(http.MethodGet, "/api/v1/logs?limit=1&since="+url.QueryEscape(base.Format(time.RFC3339)), auth).json(t, &raw)
	ev := raw[0]
	paths := []string{
		"uuid", "published", "eventType", "version", "severity", "displayMessage",
		"outcome.result", "actor.id", "actor.type", "actor.alternateId", "actor.displayName",
		"client.userAgent.rawUserAgent", "client.userAgent.os", "client.userAgent.browser",
		"client.zone", "client.device", "client.ipAddress",
		"client.geographicalContext.city", "client.geographicalContext.state", "client.geographicalContext.country",
		"client.geographicalContext.postalCode", "client.geographicalContext.geolocation.lat",
		"securityContext.asNumber", "securityContext.asOrg", "securityContext.isp",
		"securityContext.domain", "securityContext.isProxy", "debugContext.debugData.threatSuspected",
		"authenticationContext.externalSessionId", "transaction.id", "request.ipChain",
		"target",
	}
	for _, p := range paths {
		if _, ok := lookupPath(ev, p); !ok {
			blob, _ := json.Marshal(ev)
			t.Fatalf("missing %s in %s", p, blob)
		}
	}
	if _, ok := ev["outcome"].(map[string]any)["reason"]; !ok {
		t.Fatal("outcome.reason should be present (null)")
	}

	wantError(t, f.call(http.MethodGet, "/api/v1/logs?filter="+url.QueryEscape(`eventType eq`), auth), 400, "E0000031")
	wantError(t, f.call(http.MethodGet, "/api/v1/logs?since=yesterday", auth), 400, "E0000001")
	wantError(t, f.call(http.MethodGet, "/api/v1/logs?after=%21%21", auth), 400, "E0000001")
	if got := len(f.LogEvents()); got != 10 {
		t.Fatalf("LogEvents %d", got)
	}
}
