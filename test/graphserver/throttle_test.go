package graphserver

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestThrottleBudget(t *testing.T) {
	c := newClock()
	s := New(Options{Now: c.Now})
	defer s.Close()
	s.RegisterApp("busy", "pw", nil, []string{"GroupMember.Read.All"})
	r := tokenRequest(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"busy"},
		"client_secret": {"pw"}, "scope": {graphScope}})
	tok := r.body["access_token"].(string)
	s.SetThrottleBudget("busy", 3, 10*time.Second)
	for i := range 3 {
		if r := do(t, s, "GET", "/v1.0/groups", tok, nil); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	c.Step(4 * time.Second)
	r = do(t, s, "GET", "/v1.0/groups", tok, nil)
	if r.status != 429 || r.errCode() != "TooManyRequests" || r.header.Get("Retry-After") != "6" {
		t.Fatalf("over budget: %d %q %v", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r.header.Get("request-id") == "" || r.body["error"].(map[string]any)["innerError"] == nil {
		t.Errorf("throttle body/headers: %v %v", r.header, r.body)
	}
	c.Step(6 * time.Second)
	if r := do(t, s, "GET", "/v1.0/groups", tok, nil); r.status != 200 {
		t.Errorf("after the window: %d", r.status)
	}
}

func TestFailNextAndDown(t *testing.T) {
	s := New(Options{RetryAfter: 7})
	defer s.Close()
	gid := s.AddGroup("g")
	uid := s.AddUser("ada@contoso.com")
	tok := secretToken(t, s, "GroupMember.ReadWrite.All")
	path := "/v1.0/groups/" + gid + "/members/$ref"
	s.FailNext(path, 429, 1)
	s.FailNext(path, 503, 1)
	s.FailNext(path, 500, 1)
	body := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + uid}
	for _, want := range []struct {
		status     int
		code       string
		retryAfter string
	}{{429, "TooManyRequests", "7"}, {503, "serviceNotAvailable", "7"}, {500, "UnknownError", ""}} {
		r := do(t, s, "POST", path, tok, body)
		if r.status != want.status || r.errCode() != want.code || r.header.Get("Retry-After") != want.retryAfter {
			t.Errorf("forced %d: %d %q %v", want.status, r.status, r.header.Get("Retry-After"), r.body)
		}
		if len(s.Members(gid)) != 0 {
			t.Fatal("a failed request changed state")
		}
	}
	if r := do(t, s, "POST", path, tok, body); r.status != 204 || len(s.Members(gid)) != 1 {
		t.Errorf("after forced failures: %d %v", r.status, r.body)
	}
	if n := s.Requests("POST", path); n != 4 {
		t.Errorf("request count %d, want 4", n)
	}

	s.SetDown(true)
	if r := do(t, s, "GET", "/v1.0/groups", tok, nil); r.status != 503 || r.header.Get("Retry-After") != strconv.Itoa(7) {
		t.Errorf("down graph: %d %v", r.status, r.body)
	}
	r := tokenRequest(t, s, url.Values{"grant_type": {"client_credentials"}})
	if r.status != 503 || r.body["error"] != "temporarily_unavailable" {
		t.Errorf("down token endpoint: %d %v", r.status, r.body)
	}
	s.SetDown(false)
	if r := do(t, s, "GET", "/v1.0/groups", tok, nil); r.status != 200 {
		t.Errorf("back up: %d", r.status)
	}
}
