package graphserver

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// pageAll follows @odata.nextLink from first, calling between(page) after
// each page, and returns the ids in the order served.
func pageAll(t *testing.T, s *Server, tok, first string, between func(int)) []string {
	t.Helper()
	var ids []string
	next := first
	for page := 0; next != ""; page++ {
		r := do(t, s, "GET", next, tok, nil)
		if r.status != 200 {
			t.Fatalf("page %d: %d %v", page, r.status, r.body)
		}
		for _, v := range values(r) {
			ids = append(ids, v["id"].(string))
		}
		next, _ = r.body["@odata.nextLink"].(string)
		if between != nil {
			between(page)
		}
	}
	return ids
}

// seededSignIns starts a server with 25 sign-ins of ada, two a minute from
// start (pairs share a timestamp, so ties must be broken consistently).
func seededSignIns(t *testing.T) (*Server, time.Time, []string) {
	t.Helper()
	c := newClock()
	s := New(Options{Now: c.Now})
	s.AddUser("ada@contoso.com")
	start := c.Now()
	var all []string
	for i := range 25 {
		at := start.Add(time.Duration(i/2) * time.Minute)
		all = append(all, s.AddSignIn(SignIn{CreatedDateTime: at, UserPrincipalName: "ada@contoso.com",
			AppDisplayName: "Azure Portal", IPAddress: fmt.Sprintf("203.0.113.%d", i), IsInteractive: true}))
	}
	return s, start, all
}

func TestSignInsDefaultOrder(t *testing.T) {
	s, _, _ := seededSignIns(t)
	defer s.Close()
	tok := secretToken(t, s, "AuditLog.Read.All")

	// Default: newest first, all on one page.
	r := do(t, s, "GET", "/v1.0/auditLogs/signIns", tok, nil)
	vs := values(r)
	if r.status != 200 || len(vs) != 25 || r.body["@odata.nextLink"] != nil {
		t.Fatalf("list: %d %d entries", r.status, len(vs))
	}
	first, _ := time.Parse(time.RFC3339Nano, vs[0]["createdDateTime"].(string))
	last, _ := time.Parse(time.RFC3339Nano, vs[24]["createdDateTime"].(string))
	if !first.After(last) {
		t.Errorf("default order is not newest first: %v .. %v", first, last)
	}
	e := vs[0]
	if e["userId"] != s.UserID("ada@contoso.com") || e["riskLevelAggregated"] != "none" ||
		e["status"].(map[string]any)["errorCode"] != float64(0) || e["location"].(map[string]any)["geoCoordinates"] == nil {
		t.Errorf("entry shape: %v", e)
	}

}

func TestSignInsPaging(t *testing.T) {
	s, start, all := seededSignIns(t)
	defer s.Close()
	tok := secretToken(t, s, "AuditLog.Read.All")
	// Filtered, ascending, paged by 4, with new sign-ins arriving meanwhile.
	since := start.Add(3 * time.Minute) // from index 6 on
	filter := fmt.Sprintf("createdDateTime ge %s and userPrincipalName eq 'ada@contoso.com'", since.Format(time.RFC3339))
	q := "/v1.0/auditLogs/signIns?$filter=" + url.QueryEscape(filter) + "&$top=4&$orderby=createdDateTime"
	var late []string
	got := pageAll(t, s, tok, q, func(page int) {
		if page == 1 {
			late = append(late, s.AddSignIn(SignIn{CreatedDateTime: start.Add(time.Hour), UserPrincipalName: "ada@contoso.com"}))
			s.AddSignIn(SignIn{CreatedDateTime: start.Add(-time.Hour), UserPrincipalName: "ada@contoso.com"})
		}
	})
	want := append(append([]string{}, sortedTail(s, all[6:])...), late...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged ids:\n got %v\nwant %v", got, want)
	}

}

func TestSignInsFilters(t *testing.T) {
	s, start, _ := seededSignIns(t)
	defer s.Close()
	tok := secretToken(t, s, "AuditLog.Read.All")
	since := start.Add(3 * time.Minute)
	// gt excludes the boundary; and-ed upper bound.
	filter := fmt.Sprintf("createdDateTime gt %s and createdDateTime lt %s", since.Format(time.RFC3339), start.Add(5*time.Minute).Format(time.RFC3339))
	if r := do(t, s, "GET", "/v1.0/auditLogs/signIns?$filter="+url.QueryEscape(filter), tok, nil); len(values(r)) != 2 {
		t.Errorf("gt/lt window: %d %v", r.status, len(values(r)))
	}
	for _, bad := range []string{"createdDateTime ge '2026-01-01T00:00:00Z'", "createdDateTime ge 2026-01-01 or appId eq 'x'", "riskState eq 'none'"} {
		if r := do(t, s, "GET", "/v1.0/auditLogs/signIns?$filter="+url.QueryEscape(bad), tok, nil); r.status != 400 {
			t.Errorf("filter %q: %d", bad, r.status)
		}
	}
	if r := do(t, s, "GET", "/v1.0/auditLogs/signIns?$top=1001", tok, nil); r.status != 400 {
		t.Errorf("$top over 1000: %d", r.status)
	}
}

// sortedTail orders ids the way the server does for ascending reads.
func sortedTail(s *Server, ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := map[string]SignIn{}
	for _, si := range s.signIns {
		byID[si.ID] = si
	}
	out := append([]string{}, ids...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			a, b := byID[out[i]], byID[out[j]]
			if b.CreatedDateTime.Before(a.CreatedDateTime) || (b.CreatedDateTime.Equal(a.CreatedDateTime) && b.ID < a.ID) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestSignInLicensing(t *testing.T) {
	s := New(Options{NoPremiumLicense: true})
	defer s.Close()
	tok := secretToken(t, s, "AuditLog.Read.All")
	if r := do(t, s, "GET", "/v1.0/auditLogs/signIns", tok, nil); r.status != 403 ||
		r.errCode() != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
		t.Errorf("no premium: %d %v", r.status, r.body)
	}
	p1 := New(Options{NoP2License: true})
	defer p1.Close()
	p1.AddSignIn(SignIn{RiskLevelDuringSignIn: "high", RiskState: "atRisk"})
	tok = secretToken(t, p1, "AuditLog.Read.All")
	r := do(t, p1, "GET", "/v1.0/auditLogs/signIns", tok, nil)
	if e := values(r)[0]; e["riskLevelDuringSignIn"] != "hidden" || e["riskDetail"] != "hidden" || e["riskState"] != "atRisk" {
		t.Errorf("P1 risk fields: %v", e)
	}
}
