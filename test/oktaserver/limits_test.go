package oktaserver

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func rateHeaders(t *testing.T, r response) (limit, remaining int, reset int64) {
	t.Helper()
	var err error
	if limit, err = strconv.Atoi(r.header.Get("X-Rate-Limit-Limit")); err != nil {
		t.Fatalf("X-Rate-Limit-Limit: %v", err)
	}
	if remaining, err = strconv.Atoi(r.header.Get("X-Rate-Limit-Remaining")); err != nil {
		t.Fatalf("X-Rate-Limit-Remaining: %v", err)
	}
	if reset, err = strconv.ParseInt(r.header.Get("X-Rate-Limit-Reset"), 10, 64); err != nil {
		t.Fatalf("X-Rate-Limit-Reset: %v", err)
	}
	return limit, remaining, reset
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, Options{RateLimits: map[string]int{RouteGetUser: 2}})
	uid := f.AddUser("rl@example.com")
	now := f.clock.Now()
	for i := range 2 {
		r := f.ssws(http.MethodGet, "/api/v1/users/"+uid)
		limit, remaining, reset := rateHeaders(t, r)
		if r.status != http.StatusOK || limit != 2 || remaining != 1-i || reset != now.Add(time.Minute).Unix() {
			t.Fatalf("call %d: %d limit=%d remaining=%d reset=%d", i, r.status, limit, remaining, reset)
		}
	}
	r := f.ssws(http.MethodGet, "/api/v1/users/"+uid)
	wantError(t, r, 429, "E0000047")
	if _, remaining, reset := rateHeaders(t, r); remaining != 0 || reset <= now.Unix() {
		t.Fatalf("429 headers remaining=%d reset=%d", remaining, reset)
	}
	// Other routes have their own budget, and errors carry headers too.
	r = f.ssws(http.MethodGet, "/api/v1/groups/00gnone")
	if limit, _, _ := rateHeaders(t, r); r.status != 404 || limit != 600 {
		t.Fatalf("groups: %d limit %d", r.status, limit)
	}
	f.clock.Advance(time.Minute)
	if r := f.ssws(http.MethodGet, "/api/v1/users/"+uid); r.status != http.StatusOK {
		t.Fatalf("after window: %d", r.status)
	}
	// The token endpoint is limited too.
	tokenLimited := newFixture(t, Options{RateLimits: map[string]int{RouteToken: 1}})
	tokenLimited.bearer(ScopeUsersRead)
	r = tokenLimited.tokenRequest(tokenLimited.tokenForm(signJWT(t, tokenLimited.key, tokenLimited.claims()), ScopeUsersRead))
	wantError(t, r, 429, "E0000047")
}

func TestFailNext(t *testing.T) {
	f := newFixture(t, Options{})
	auth := f.bearer(ScopeLogsRead)
	f.FailNext(RouteLogs, 1, http.StatusTooManyRequests)
	f.FailNext(RouteLogs, 1, http.StatusServiceUnavailable)
	f.FailNext(RouteLogs, 1, http.StatusInternalServerError)

	r := f.call(http.MethodGet, "/api/v1/logs", auth)
	wantError(t, r, 429, "E0000047")
	if _, remaining, _ := rateHeaders(t, r); remaining != 0 {
		t.Fatalf("forced 429 remaining %d", remaining)
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/logs", auth), 503, "E0000009")
	wantError(t, f.call(http.MethodGet, "/api/v1/logs", auth), 500, "E0000009")
	if r := f.call(http.MethodGet, "/api/v1/logs", auth); r.status != http.StatusOK {
		t.Fatalf("after faults: %d %s", r.status, r.body)
	}
	if n := f.Requests(RouteLogs); n != 4 {
		t.Fatalf("requests %d", n)
	}
	// Faults hit the token endpoint as well.
	f.FailNext(RouteToken, 1, http.StatusServiceUnavailable)
	wantError(t, f.tokenRequest(f.tokenForm(signJWT(t, f.key, f.claims()), ScopeLogsRead)), 503, "E0000009")
}

func TestDown(t *testing.T) {
	f := newFixture(t, Options{})
	uid := f.AddUser("down@example.com")
	gid := f.AddGroup("g")
	f.SetDown(true)
	wantError(t, f.ssws(http.MethodGet, "/api/v1/users/"+uid), 503, "E0000009")
	r := f.ssws(http.MethodPut, "/api/v1/groups/"+gid+"/users/"+uid)
	wantError(t, r, 503, "E0000009")
	if len(f.Members(gid)) != 0 {
		t.Fatal("write applied while down")
	}

	f.SetDownMode(DownHangup)
	req, err := http.NewRequest(http.MethodGet, f.URL()+"/api/v1/users/"+uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSWS "+testAPIToken)
	if resp, err := f.Client().Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("hangup mode answered %d", resp.StatusCode)
	}

	f.SetDown(false)
	if r := f.ssws(http.MethodGet, "/api/v1/users/"+uid); r.status != http.StatusOK {
		t.Fatalf("back up: %d", r.status)
	}
	wantError(t, f.ssws(http.MethodGet, "/api/v1/nothing-here"), 404, "E0000007")
}
