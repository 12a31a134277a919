package graphserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenClientSecret(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.RegisterApp("app-1", "right", nil, []string{"User.Read.All"})
	form := func(id, secret, scope string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {scope}}
	}
	r := tokenRequest(t, s, form("app-1", "right", graphScope))
	if r.status != 200 || r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(3599) {
		t.Fatalf("good secret: %d %v", r.status, r.body)
	}
	tok, _ := r.body["access_token"].(string)
	if got := do(t, s, "GET", "/v1.0/users?$top=1", tok, nil); got.status != 200 {
		t.Fatalf("token not accepted by Graph: %d %v", got.status, got.body)
	}
	cases := []struct {
		name, id, secret, scope string
		status                  int
		code, aadsts            string
	}{
		{"wrong secret", "app-1", "wrong", graphScope, 401, "invalid_client", "AADSTS7000215"},
		{"unknown app", "nobody", "right", graphScope, 400, "unauthorized_client", "AADSTS700016"},
		{"scope without .default", "app-1", "right", "https://graph.microsoft.com/User.Read.All", 400, "invalid_scope", "AADSTS1002012"},
		{"other resource", "app-1", "right", "https://vault.azure.net/.default", 400, "invalid_resource", "AADSTS500011"},
	}
	for _, c := range cases {
		r := tokenRequest(t, s, form(c.id, c.secret, c.scope))
		desc, _ := r.body["error_description"].(string)
		if r.status != c.status || r.body["error"] != c.code || !strings.HasPrefix(desc, c.aadsts+":") {
			t.Errorf("%s: got %d %v", c.name, r.status, r.body)
		}
		if r.body["trace_id"] == nil || r.body["error_codes"] == nil {
			t.Errorf("%s: AAD error fields missing: %v", c.name, r.body)
		}
	}
	other := httpTokenURLForTenant(s, "someone-else.onmicrosoft.com")
	req, _ := http.NewRequest(http.MethodPost, other, strings.NewReader(form("app-1", "right", graphScope).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := send(t, s, req); r.status != 400 || !strings.HasPrefix(r.body["error_description"].(string), "AADSTS90002:") {
		t.Errorf("unknown tenant: %d %v", r.status, r.body)
	}
}

func httpTokenURLForTenant(s *Server, tenant string) string {
	return s.URL() + "/" + tenant + "/oauth2/v2.0/token"
}

func TestTokenCertificate(t *testing.T) {
	c := newClock()
	s := New(Options{Now: c.Now})
	defer s.Close()
	cert, key := newCert(t, c)
	_, otherKey := newCert(t, c)
	otherCert, otherCertKey := newCert(t, c)
	s.RegisterApp("cert-app", "", cert, []string{"GroupMember.Read.All"})
	post := func(a string) resp {
		return tokenRequest(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cert-app"},
			"scope": {graphScope}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a}})
	}
	good := []struct {
		name   string
		mutate func(h, cl map[string]any)
	}{
		{"x5t standard base64 (MSAL Go)", nil},
		{"x5t#S256 base64url", func(h, _ map[string]any) { delete(h, "x5t"); h["x5t#S256"] = s256(cert) }},
		{"string NumericDates (older MSAL Go)", func(_, cl map[string]any) {
			cl["nbf"] = fmt.Sprint(c.Now().Unix())
			cl["exp"] = fmt.Sprint(c.Now().Add(5 * time.Minute).Unix())
		}},
		{"v1 endpoint audience", func(_, cl map[string]any) { cl["aud"] = s.URL() + "/" + s.TenantID() + "/oauth2/token" }},
	}
	for _, g := range good {
		r := post(assertion(t, key, cert, "cert-app", s.TokenURL(), c.Now(), g.mutate))
		if r.status != 200 {
			t.Errorf("%s: %d %v", g.name, r.status, r.body)
			continue
		}
		tok := r.body["access_token"].(string)
		if got := do(t, s, "GET", "/v1.0/groups", tok, nil); got.status != 200 {
			t.Errorf("%s: Graph refused the token: %d %v", g.name, got.status, got.body)
		}
	}
	bad := []struct {
		name, assertion, aadsts, contains string
	}{
		{"bad signature", assertion(t, otherKey, cert, "cert-app", s.TokenURL(), c.Now(), nil), "AADSTS700027", "invalid signature"},
		{"unknown thumbprint", assertion(t, key, otherCert, "cert-app", s.TokenURL(), c.Now(), nil), "AADSTS700027", "The key was not found"},
		{"wrong aud", assertion(t, key, cert, "cert-app", "https://login.microsoftonline.com/common/oauth2/v2.0/token", c.Now(), nil), "AADSTS50013", "audience"},
		{"expired", assertion(t, key, cert, "cert-app", s.TokenURL(), c.Now().Add(-time.Hour), nil), "AADSTS700024", "valid time range"},
		{"not yet valid", assertion(t, key, cert, "cert-app", s.TokenURL(), c.Now(), func(_, cl map[string]any) {
			cl["nbf"] = c.Now().Add(time.Hour).Unix()
			cl["exp"] = c.Now().Add(2 * time.Hour).Unix()
		}), "AADSTS700024", "valid time range"},
		{"iss mismatch", assertion(t, key, cert, "someone-else", s.TokenURL(), c.Now(), nil), "AADSTS700021", "doesn't match"},
		{"malformed", "not-a-jwt", "AADSTS50027", "malformed"},
	}
	for _, b := range bad {
		r := post(b.assertion)
		desc, _ := r.body["error_description"].(string)
		if r.status != 401 || r.body["error"] != "invalid_client" || !strings.HasPrefix(desc, b.aadsts+":") || !strings.Contains(desc, b.contains) {
			t.Errorf("%s: %d %v", b.name, r.status, r.body)
		}
	}
	// A rotated-in certificate works next to the first one.
	s.AddAppCertificate("cert-app", otherCert)
	if r := post(assertion(t, otherCertKey, otherCert, "cert-app", s.TokenURL(), c.Now(), nil)); r.status != 200 {
		t.Errorf("second certificate: %d %v", r.status, r.body)
	}
}

func TestGraphRejectsBadTokens(t *testing.T) {
	c := newClock()
	s := New(Options{Now: c.Now})
	defer s.Close()
	tok := secretToken(t, s, "User.Read.All")
	other := New(Options{})
	defer other.Close()
	foreign := secretToken(t, other, "User.Read.All")
	for name, tk := range map[string]string{"missing": "", "malformed": "abc", "other server": foreign} {
		r := do(t, s, "GET", "/v1.0/users", tk, nil)
		if r.status != 401 || r.errCode() != "InvalidAuthenticationToken" || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %v", name, r.status, r.body)
		}
		inner, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
		if inner["request-id"] == nil || inner["date"] == nil || inner["client-request-id"] == nil {
			t.Errorf("%s: innerError incomplete: %v", name, r.body)
		}
	}
	c.Step(61 * time.Minute)
	if r := do(t, s, "GET", "/v1.0/users", tok, nil); r.status != 401 || !strings.Contains(r.errMessage(), "expired") {
		t.Errorf("expired: %d %v", r.status, r.body)
	}
}

func TestRoleEnforcement(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	uid := s.AddUser("ada@contoso.com")
	gid := s.AddGroup("admins")
	reader := secretToken(t, s, "GroupMember.Read.All")
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + uid}
	checks := []struct {
		method, path string
		body         any
		code         string
	}{
		{"POST", "/v1.0/groups/" + gid + "/members/$ref", ref, "Authorization_RequestDenied"},
		{"DELETE", "/v1.0/groups/" + gid + "/members/" + uid + "/$ref", nil, "Authorization_RequestDenied"},
		{"PATCH", "/v1.0/users/" + uid, map[string]any{"accountEnabled": false}, "Authorization_RequestDenied"},
		{"POST", "/v1.0/users/" + uid + "/revokeSignInSessions", nil, "Authorization_RequestDenied"},
		{"GET", "/v1.0/users/" + uid, nil, "Authorization_RequestDenied"},
		{"GET", "/v1.0/organization", nil, "Authorization_RequestDenied"},
		{"GET", "/v1.0/auditLogs/signIns", nil, "Authentication_MSGraphPermissionMissing"},
	}
	for _, c := range checks {
		if r := do(t, s, c.method, c.path, reader, c.body); r.status != 403 || r.errCode() != c.code {
			t.Errorf("%s %s: %d %v", c.method, c.path, r.status, r.body)
		}
	}
	if len(s.Members(gid)) != 0 || !s.AccountEnabled("ada@contoso.com") {
		t.Fatal("a denied request changed state")
	}
	if r := do(t, s, "GET", "/v1.0/groups/"+gid, reader, nil); r.status != 200 || r.body["displayName"] != "admins" {
		t.Errorf("GroupMember.Read.All reads groups: %d %v", r.status, r.body)
	}
}

func TestMemberAdd(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	gid := s.AddGroup("on-call")
	var uids []string
	for i := range 5 {
		uids = append(uids, s.AddUser(fmt.Sprintf("u%d@contoso.com", i)))
	}
	tok := secretToken(t, s, "GroupMember.ReadWrite.All", "User.Read.All")
	add := func(uid string) resp {
		return do(t, s, "POST", "/v1.0/groups/"+gid+"/members/$ref", tok,
			map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + uid})
	}
	for _, uid := range uids {
		if r := add(uid); r.status != 204 {
			t.Fatalf("add: %d %v", r.status, r.body)
		}
	}
	if got := s.Members(gid); len(got) != 5 || got[0] != "u0@contoso.com" {
		t.Fatalf("members after add: %v", got)
	}
	r := add(uids[0])
	if r.status != 400 || r.errCode() != "Request_BadRequest" ||
		r.errMessage() != "One or more added object references already exist for the following modified properties: 'members'." {
		t.Errorf("duplicate add: %d %v", r.status, r.body)
	}
	if r := add(newGUID()); r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
		t.Errorf("add unknown object: %d %v", r.status, r.body)
	}
}

func TestMemberPaging(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	gid := s.AddGroup("on-call")
	for i := range 5 {
		upn := fmt.Sprintf("u%d@contoso.com", i)
		s.AddUser(upn)
		if err := s.AddMember(gid, upn); err != nil {
			t.Fatal(err)
		}
	}
	tok := secretToken(t, s, "GroupMember.Read.All", "User.Read.All")
	// $top=2 over 5 members gives 3 pages, each member once.
	seen := map[string]bool{}
	next := "/v1.0/groups/" + gid + "/members?$top=2"
	pages := 0
	for next != "" {
		r := do(t, s, "GET", next, tok, nil)
		if r.status != 200 {
			t.Fatalf("members page: %d %v", r.status, r.body)
		}
		for _, m := range values(r) {
			upn, _ := m["userPrincipalName"].(string)
			if seen[upn] || m["@odata.type"] != "#microsoft.graph.user" {
				t.Fatalf("duplicate or untyped member %v", m)
			}
			seen[upn] = true
		}
		next, _ = r.body["@odata.nextLink"].(string)
		pages++
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("paging: %d members in %d pages", len(seen), pages)
	}
	// Without a user read permission members carry only id and @odata.type.
	limited := secretToken(t, s, "GroupMember.Read.All")
	r := do(t, s, "GET", "/v1.0/groups/"+gid+"/members/microsoft.graph.user", limited, nil)
	if vs := values(r); r.status != 200 || len(vs) != 5 || vs[0]["id"] == nil || vs[0]["userPrincipalName"] != nil {
		t.Errorf("limited members: %d %v", r.status, r.body)
	}
}

func TestMemberRemove(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	gid := s.AddGroup("on-call")
	var uids []string
	for i := range 3 {
		upn := fmt.Sprintf("u%d@contoso.com", i)
		uids = append(uids, s.AddUser(upn))
		_ = s.AddMember(gid, upn)
	}
	tok := secretToken(t, s, "GroupMember.ReadWrite.All")
	del := func(uid string) resp {
		return do(t, s, "DELETE", "/v1.0/groups/"+gid+"/members/"+uid+"/$ref", tok, nil)
	}
	if r := del(uids[1]); r.status != 204 {
		t.Fatalf("remove: %d %v", r.status, r.body)
	}
	if r := del(uids[1]); r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
		t.Errorf("remove absent: %d %v", r.status, r.body)
	}
	if got := s.Members(gid); len(got) != 2 || strings.Contains(strings.Join(got, ","), "u1@") {
		t.Errorf("members after remove: %v", got)
	}
	if r := del(newGUID()); r.status != 404 {
		t.Errorf("remove unknown object: %d %v", r.status, r.body)
	}
}

func TestUserLookups(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	uid := s.AddUser("O'Brien@contoso.com")
	tok := secretToken(t, s, "User.Read.All")
	r := do(t, s, "GET", "/v1.0/users?$filter="+url.QueryEscape("userPrincipalName eq 'o''brien@contoso.com'"), tok, nil)
	if vs := values(r); r.status != 200 || len(vs) != 1 || vs[0]["id"] != uid {
		t.Errorf("user filter: %d %v", r.status, r.body)
	}
	r = do(t, s, "GET", "/v1.0/users/"+url.PathEscape("O'Brien@contoso.com")+"?$select=id,accountEnabled", tok, nil)
	if r.status != 200 || r.body["accountEnabled"] != true || r.body["userPrincipalName"] != nil {
		t.Errorf("user by UPN with $select: %d %v", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1.0/users/"+uid, tok, nil); r.body["accountEnabled"] != nil || r.body["userPrincipalName"] == nil {
		t.Errorf("default user properties: %v", r.body)
	}
	if r := do(t, s, "GET", "/v1.0/users/nobody@contoso.com", tok, nil); r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
		t.Errorf("unknown user: %d %v", r.status, r.body)
	}
}

func TestGroupLookupsAndCheck(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	gid := s.AddGroup("Break Glass")
	tok := secretToken(t, s, "GroupMember.Read.All", "Organization.Read.All")
	r := do(t, s, "GET", "/v1.0/groups?$filter="+url.QueryEscape("displayName eq 'Break Glass'"), tok, nil)
	if vs := values(r); r.status != 200 || len(vs) != 1 || vs[0]["id"] != gid {
		t.Errorf("group filter: %d %v", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1.0/groups?$top=1&$select=id", tok, nil); r.status != 200 || len(values(r)) != 1 {
		t.Errorf("check call: %d %v", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1.0/organization", tok, nil); r.status != 200 || values(r)[0]["id"] != s.TenantID() {
		t.Errorf("organization: %d %v", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1.0/groups?$top=1000", tok, nil); r.status != 400 {
		t.Errorf("$top over 999: %d %v", r.status, r.body)
	}
}

func TestAccountEnabled(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	uid := s.AddUser("ada@contoso.com")
	writer := secretToken(t, s, "User.ReadWrite.All")
	patch := func(tok string, body map[string]any) resp { return do(t, s, "PATCH", "/v1.0/users/"+uid, tok, body) }
	if r := patch(writer, map[string]any{"accountEnabled": false}); r.status != 204 || s.AccountEnabled("ada@contoso.com") {
		t.Fatalf("disable: %d %v", r.status, r.body)
	}
	narrow := secretToken(t, s, "User.EnableDisableAccount.All", "User.Read.All")
	if r := patch(narrow, map[string]any{"accountEnabled": true}); r.status != 204 || !s.AccountEnabled("ada@contoso.com") {
		t.Fatalf("enable with EnableDisableAccount: %d %v", r.status, r.body)
	}
	if r := patch(narrow, map[string]any{"displayName": "Ada"}); r.status != 403 {
		t.Errorf("EnableDisableAccount cannot rename: %d %v", r.status, r.body)
	}
	alone := secretToken(t, s, "User.EnableDisableAccount.All")
	if r := patch(alone, map[string]any{"accountEnabled": false}); r.status != 403 || !s.AccountEnabled("ada@contoso.com") {
		t.Errorf("EnableDisableAccount without User.Read.All: %d %v", r.status, r.body)
	}
	if r := patch(writer, map[string]any{"accountEnabled": "false"}); r.status != 400 {
		t.Errorf("string accountEnabled: %d %v", r.status, r.body)
	}
	if r := do(t, s, "PATCH", "/v1.0/users/"+newGUID(), writer, map[string]any{"accountEnabled": false}); r.status != 404 {
		t.Errorf("unknown user: %d %v", r.status, r.body)
	}
}

func TestRevokeSignInSessions(t *testing.T) {
	c := newClock()
	s := New(Options{Now: c.Now})
	defer s.Close()
	s.AddUser("ada@contoso.com")
	before := s.SessionsRevokedAt("ada@contoso.com")
	c.Step(90 * time.Second)
	tok := secretToken(t, s, "User.RevokeSessions.All")
	r := do(t, s, "POST", "/v1.0/users/ada@contoso.com/revokeSignInSessions", tok, nil)
	if r.status != 200 || r.body["value"] != true {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	if got := s.SessionsRevokedAt("ada@contoso.com"); !got.Equal(c.Now()) || !got.After(before) {
		t.Errorf("signInSessionsValidFromDateTime = %v, want %v", got, c.Now())
	}
	if r := do(t, s, "POST", "/v1.0/users/nobody@contoso.com/revokeSignInSessions", tok, nil); r.status != 404 {
		t.Errorf("unknown user: %d %v", r.status, r.body)
	}
}
