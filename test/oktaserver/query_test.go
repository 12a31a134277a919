package oktaserver

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"
)

var nextLinkPattern = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// nextLink is the rel="next" URL of a response, or "".
func nextLink(r response) string {
	for _, v := range r.header.Values("Link") {
		if m := nextLinkPattern.FindStringSubmatch(v); m != nil {
			return m[1]
		}
	}
	return ""
}

type idLogin struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Profile struct {
		Login string `json:"login"`
		Name  string `json:"name"`
	} `json:"profile"`
}

// collect follows rel="next" from path and returns every item and the page
// sizes.
func (f *fixture) collect(path, auth string) ([]idLogin, []int) {
	f.t.Helper()
	var all []idLogin
	var sizes []int
	for link := path; link != ""; {
		r := f.call(http.MethodGet, link, auth)
		if r.status != http.StatusOK {
			f.t.Fatalf("GET %s: %d %s", link, r.status, r.body)
		}
		var page []idLogin
		r.json(f.t, &page)
		all = append(all, page...)
		sizes = append(sizes, len(page))
		link = nextLink(r)
		if len(sizes) > 100 {
			f.t.Fatal("pagination does not end")
		}
	}
	return all, sizes
}

func TestGroupMembersPagination(t *testing.T) {
	f := newFixture(t, Options{})
	gid := f.AddGroup("big")
	want := map[string]bool{}
	for i := range 25 {
		login := fmt.Sprintf("user%02d@example.com", i)
		f.AddMember(gid, f.AddUser(login))
		want[login] = true
	}
	f.AddUser("outsider@example.com")

	auth := f.bearer(ScopeGroupsRead)
	got, sizes := f.collect("/api/v1/groups/"+gid+"/users?limit=7", auth)
	if !slices.Equal(sizes, []int{7, 7, 7, 4}) {
		t.Fatalf("page sizes %v", sizes)
	}
	seen := map[string]bool{}
	for _, u := range got {
		if seen[u.Profile.Login] || !want[u.Profile.Login] {
			t.Fatalf("duplicate or stray %s", u.Profile.Login)
		}
		seen[u.Profile.Login] = true
	}
	if len(seen) != 25 {
		t.Fatalf("got %d members", len(seen))
	}
	// A membership change between pages neither repeats nor skips others.
	r := f.call(http.MethodGet, "/api/v1/groups/"+gid+"/users?limit=10", auth)
	var first []idLogin
	r.json(t, &first)
	f.ssws(http.MethodDelete, "/api/v1/groups/"+gid+"/users/"+first[9].ID)
	rest, _ := f.collect(nextLink(r), auth)
	if len(first)+len(rest) != 25 {
		t.Fatalf("after removal: %d + %d", len(first), len(rest))
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/groups/00gnope/users", auth), 404, "E0000007")
}

func TestUsersLookupSearchAndPaging(t *testing.T) {
	f := newFixture(t, Options{})
	id := f.AddUser("Dana.Smith@example.com")
	for i := range 9 {
		f.AddUser(fmt.Sprintf("p%d@example.com", i))
	}
	f.AddUser("gone@example.com")
	f.SetUserStatus("gone@example.com", StatusDeprovisioned)
	auth := f.bearer(ScopeUsersRead)

	for _, key := range []string{id, "dana.smith@example.com", "Dana.Smith"} {
		r := f.call(http.MethodGet, "/api/v1/users/"+url.PathEscape(key), auth)
		var u idLogin
		r.json(t, &u)
		if r.status != http.StatusOK || u.ID != id || u.Status != StatusActive {
			t.Fatalf("GET %s: %d %s", key, r.status, r.body)
		}
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/users/nobody@example.com", auth), 404, "E0000007")

	for _, param := range []string{"search", "filter"} {
		q := url.Values{param: {`profile.login eq "dana.smith@example.com"`}}
		r := f.call(http.MethodGet, "/api/v1/users?"+q.Encode(), auth)
		var us []idLogin
		r.json(t, &us)
		if len(us) != 1 || us[0].ID != id {
			t.Fatalf("%s: %s", param, r.body)
		}
	}
	q := url.Values{"search": {`status eq "DEPROVISIONED"`}}
	if all, _ := f.collect("/api/v1/users?"+q.Encode(), auth); len(all) != 1 {
		t.Fatalf("deprovisioned search: %v", all)
	}
	// A plain list omits DEPROVISIONED users.
	all, sizes := f.collect("/api/v1/users?limit=4", auth)
	if len(all) != 10 || !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Fatalf("list: %d users, pages %v", len(all), sizes)
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/users?search="+url.QueryEscape(`profile.login eq`), auth), 400, "E0000031")
}

func TestGroupsSearch(t *testing.T) {
	f := newFixture(t, Options{})
	eng := f.AddGroup("Engineering")
	f.AddGroup("Engineering Managers")
	f.AddGroup("Sales")
	auth := f.bearer(ScopeGroupsRead)

	var gs []idLogin
	f.call(http.MethodGet, "/api/v1/groups?q=engin", auth).json(t, &gs)
	if len(gs) != 2 {
		t.Fatalf("q: %v", gs)
	}
	q := url.Values{"search": {`profile.name eq "Engineering"`}}
	f.call(http.MethodGet, "/api/v1/groups?"+q.Encode(), auth).json(t, &gs)
	if len(gs) != 1 || gs[0].ID != eng || gs[0].Profile.Name != "Engineering" {
		t.Fatalf("search: %v", gs)
	}
	r := f.call(http.MethodGet, "/api/v1/groups/"+eng, auth)
	var g map[string]any
	r.json(t, &g)
	if r.status != http.StatusOK || g["type"] != "OKTA_GROUP" {
		t.Fatalf("get group: %s", r.body)
	}
	all, _ := f.collect("/api/v1/groups?limit=2", auth)
	if len(all) != 3 {
		t.Fatalf("groups %v", all)
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/groups/00gnope", auth), 404, "E0000007")
}

func TestFilterExpressions(t *testing.T) {
	obj := map[string]any{
		"eventType": "user.session.start",
		"outcome":   map[string]any{"result": "FAILURE"},
		"securityContext": map[string]any{
			"isProxy": true, "asNumber": float64(64512), "isp": nil,
		},
		"published": "2026-03-01T12:00:00.000Z",
	}
	cases := map[string]bool{
		`eventType eq "user.session.start"`:                                           true,
		`eventType eq "USER.SESSION.START"`:                                           true,
		`eventType eq "user.session.end" or eventType eq "user.session.start"`:        true,
		`eventType eq "user.session.start" and outcome.result eq "SUCCESS"`:           false,
		`(eventType sw "user.") and not (outcome.result eq "SUCCESS")`:                true,
		`securityContext.isProxy eq true and securityContext.asNumber gt 1000`:        true,
		`securityContext.isp pr`:                                                      false,
		`published ge "2026-03-01T00:00:00.000Z" and published lt "2026-03-02T00:00"`: true,
		`actor.id eq "x"`:        false,
		`eventType co "session"`: true,
	}
	for expr, want := range cases {
		m, err := parseFilter(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := m(obj); got != want {
			t.Errorf("%s = %v, want %v", expr, got, want)
		}
	}
	for _, bad := range []string{``, `eventType`, `eventType eq`, `(eventType eq "x"`, `eventType zz "x"`, `eventType eq "x`} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
