package googleserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const loginPath = "/admin/reports/v1/activity/users/all/applications/login"

// listAll pages through activities.list and returns the records in order.
func (h *harness) listAll(tok, path string, query url.Values, pageSize string) ([]Activity, int) {
	h.t.Helper()
	var all []Activity
	pages := 0
	for {
		query.Set("maxResults", pageSize)
		var page activitiesResource
		if code := h.callJSON("GET", path+"?"+query.Encode(), tok, nil, &page); code != http.StatusOK || page.Kind != "admin#reports#activities" {
			h.t.Fatalf("page %d: %d %+v", pages, code, page)
		}
		all = append(all, page.Items...)
		pages++
		if page.NextPageToken == "" {
			return all, pages
		}
		query.Set("pageToken", page.NextPageToken)
	}
}

func qualifiers(acts []Activity) []int64 {
	out := make([]int64, len(acts))
	for i, a := range acts {
		out[i] = a.ID.UniqueQualifier
	}
	return out
}

func TestLoginActivitiesPageNewestFirstWithoutGapsOrRepeats(t *testing.T) {
	h := setup(t, Options{})
	h.AddUser("ann@example.com")
	base := h.clock.Now().Add(-48 * time.Hour)
	var added []Activity
	for i := range 8 {
		at := base.Add(time.Duration(i/2) * time.Hour) // pairs share a time
		added = append(added, h.AddLoginActivity(Activity{
			ID:        ActivityID{Time: at},
			Actor:     Actor{Email: []string{"ann@example.com", adminSub}[i%2]},
			IPAddress: "203.0.113.7",
			Events:    []Event{LoginEvent([]string{"login_success", "login_failure"}[i%3%2], "google_password", false)},
		}))
	}
	tok := h.token(adminSub, ScopeReportsAudit)
	// Newest first: the reverse of insertion order here.
	want := qualifiers(added)
	slices.Reverse(want)

	query := url.Values{}
	var got []Activity
	var page activitiesResource
	query.Set("maxResults", "3")
	h.callJSON("GET", loginPath+"?"+query.Encode(), tok, nil, &page)
	got = append(got, page.Items...)
	// A sign-in arriving mid-paging is newer than the cursor: later pages
	// neither repeat nor lose records.
	h.AddLoginActivity(Activity{Actor: Actor{Email: "ann@example.com"}, Events: []Event{LoginEvent("login_success", "saml", false)}})
	query.Set("pageToken", page.NextPageToken)
	rest, pages := h.listAll(tok, loginPath, query, "3")
	got = append(got, rest...)
	if !slices.Equal(qualifiers(got), want) || pages != 2 {
		t.Fatalf("paged %v in %d more pages, want %v", qualifiers(got), pages, want)
	}

	all, pages := h.listAll(tok, loginPath, url.Values{}, "1000")
	if len(all) != 9 || pages != 1 || all[0].Events[0].Parameters[0].Value != "saml" {
		t.Fatalf("one big page: %d records in %d pages", len(all), pages)
	}

	start := url.Values{"startTime": {base.Add(2 * time.Hour).Format(time.RFC3339)}, "endTime": {base.Add(3 * time.Hour).Format(time.RFC3339)}}
	windowed, _ := h.listAll(tok, loginPath, start, "1")
	if !slices.Equal(qualifiers(windowed), want[:4]) {
		t.Fatalf("startTime/endTime window: %v", qualifiers(windowed))
	}
	ann, _ := h.listAll(tok, "/admin/reports/v1/activity/users/ann@example.com/applications/login", url.Values{}, "2")
	failures, _ := h.listAll(tok, loginPath, url.Values{"eventName": {"login_failure"}}, "2")
	if len(ann) != 5 || len(failures) != 3 {
		t.Fatalf("userKey filter gave %d, eventName filter %d", len(ann), len(failures))
	}
	for _, a := range ann {
		if a.Actor.Email != "ann@example.com" {
			t.Fatalf("userKey filter let through %s", a.Actor.Email)
		}
	}
}

func TestActivityJSONShape(t *testing.T) {
	h := setup(t, Options{})
	id := h.AddUser("ann@example.com")
	at := h.clock.Now().Add(-time.Minute)
	h.AddLoginActivity(Activity{
		ID:          ActivityID{Time: at, UniqueQualifier: -4211},
		Actor:       Actor{Email: "ann@example.com"},
		IPAddress:   "198.51.100.4",
		NetworkInfo: &NetworkInfo{RegionCode: "DE", SubdivisionCode: "DE-BE", IPAsn: []int32{3320}},
		Events: []Event{{Type: "login", Name: "login_failure", Parameters: []Parameter{
			StringParam("login_type", "google_password"), BoolParam("is_suspicious", false),
			StringParam("login_failure_type", "login_failure_invalid_password"),
			{Name: "login_challenge_method", MultiValue: []string{"password"}},
		}}},
	})
	code, raw := h.call("GET", loginPath, h.token(adminSub, ScopeReportsAudit), nil)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, raw)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	item := doc["items"].([]any)[0].(map[string]any)
	aid := item["id"].(map[string]any)
	actor := item["actor"].(map[string]any)
	params := item["events"].([]any)[0].(map[string]any)["parameters"].([]any)
	network := item["networkInfo"].(map[string]any)
	if doc["kind"] != "admin#reports#activities" || item["kind"] != "admin#reports#activity" {
		t.Fatalf("kinds: %s", raw)
	}
	wantFields(t, "id", aid, map[string]any{"time": at.Format(time.RFC3339), "uniqueQualifier": "-4211", "applicationName": "login", "customerId": "C0fake000"})
	wantFields(t, "actor", actor, map[string]any{"email": "ann@example.com", "profileId": id, "callerType": "USER"})
	wantFields(t, "parameters[0]", params[0].(map[string]any), map[string]any{"name": "login_type", "value": "google_password"})
	wantFields(t, "parameters[1]", params[1].(map[string]any), map[string]any{"name": "is_suspicious", "boolValue": false})
	wantFields(t, "networkInfo", network, map[string]any{"regionCode": "DE", "subdivisionCode": "DE-BE"})
	if network["ipAsn"].([]any)[0] != float64(3320) || item["ipAddress"] != "198.51.100.4" {
		t.Fatalf("network: %v", item)
	}
	if _, ok := doc["nextPageToken"]; ok {
		t.Fatal("a last page carries a nextPageToken")
	}
}

func TestOtherApplicationsReportNothing(t *testing.T) {
	h := setup(t, Options{})
	h.AddLoginActivity(Activity{Actor: Actor{Email: adminSub}})
	var empty map[string]any
	h.callJSON("GET", "/admin/reports/v1/activity/users/all/applications/drive", h.token(adminSub, ScopeReportsAudit), nil, &empty)
	if _, ok := empty["items"]; ok || empty["kind"] != "admin#reports#activities" {
		t.Fatalf("an empty report: %v", empty)
	}
}

func TestActivitiesParameterValidation(t *testing.T) {
	h := setup(t, Options{})
	tok := h.token(adminSub, ScopeReportsAudit)
	now := h.clock.Now()
	for _, q := range []string{
		"maxResults=0", "maxResults=1001", "startTime=yesterday",
		"startTime=" + url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)),
		"startTime=" + url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339)) + "&endTime=" + url.QueryEscape(now.Add(-2*time.Hour).Format(time.RFC3339)),
		"pageToken=not-a-token",
	} {
		code, raw := h.call("GET", loginPath+"?"+q, tok, nil)
		h.wantError(code, raw, 400, "invalid", "")
		if !strings.Contains(string(raw), `"status":"INVALID_ARGUMENT"`) {
			t.Fatalf("%s: %s", q, raw)
		}
	}
	code, raw := h.call("GET", "/admin/reports/v1/activity/users/ghost@example.com/applications/login", tok, nil)
	h.wantError(code, raw, 400, "invalid", "")
}

func TestActivitiesOlderThanRetentionAreGone(t *testing.T) {
	h := setup(t, Options{})
	h.AddLoginActivity(Activity{ID: ActivityID{Time: h.clock.Now().Add(-181 * 24 * time.Hour)}, Actor: Actor{Email: adminSub}})
	h.AddLoginActivity(Activity{ID: ActivityID{Time: h.clock.Now().Add(-179 * 24 * time.Hour)}, Actor: Actor{Email: adminSub}})
	old := url.Values{"startTime": {h.clock.Now().Add(-365 * 24 * time.Hour).Format(time.RFC3339)}}
	got, _ := h.listAll(h.token(adminSub, ScopeReportsAudit), loginPath, old, "10")
	if len(got) != 1 {
		t.Fatalf("got %d records, want only the one within 180 days", len(got))
	}
}

func wantFields(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s.%s = %v, want %v (%v)", what, k, got[k], v, got)
		}
	}
}

func TestActivitiesBelongToTheirApplication(t *testing.T) {
	h := setup(t, Options{})
	login := h.AddLoginActivity(Activity{Actor: Actor{Email: adminSub}, Events: []Event{LoginEvent("login_success", "saml", false)}})
	h.AddLoginActivity(Activity{ID: ActivityID{ApplicationName: "admin"}, Actor: Actor{Email: adminSub},
		Events: []Event{{Type: "USER_SETTINGS", Name: "SUSPEND_USER"}}})
	tok := h.token(adminSub, ScopeReportsAudit)
	logins, _ := h.listAll(tok, loginPath, url.Values{}, "10")
	admins, _ := h.listAll(tok, "/admin/reports/v1/activity/users/all/applications/admin", url.Values{}, "10")
	if len(logins) != 1 || logins[0].ID.UniqueQualifier != login.ID.UniqueQualifier ||
		len(admins) != 1 || admins[0].ID.ApplicationName != "admin" {
		t.Fatalf("login reported %v, admin %v", qualifiers(logins), qualifiers(admins))
	}
}
