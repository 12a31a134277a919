package googleserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestJWTBearerGrantIssuesToken(t *testing.T) {
	h := setup(t, Options{})
	code, body := h.postToken(h.assertion(nil))
	if code != http.StatusOK || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["access_token"] == "" {
		t.Fatalf("token response %d %v", code, body)
	}
	var u userResource
	if code := h.callJSON("GET", "/admin/directory/v1/users/"+adminSub, body["access_token"].(string), nil, &u); code != http.StatusOK || u.PrimaryEmail != adminSub || !u.IsAdmin {
		t.Fatalf("users.get with the token: %d %+v", code, u)
	}
}

func TestJWTBearerGrantErrors(t *testing.T) {
	h := setup(t, Options{}, ScopeReportsAudit)
	other := testKeys()[1]
	h.RegisterServiceAccount("other@project.iam.gserviceaccount.com", "k", &other.PublicKey, nil)
	now := h.clock.Now()
	signedBy := func(signer int, kid string, mod func(*Assertion)) string {
		a := Assertion{Issuer: saEmail, Subject: adminSub, Scopes: []string{ScopeUser}, Audience: h.TokenURL(), IssuedAt: now, Expiry: now.Add(time.Hour)}
		if mod != nil {
			mod(&a)
		}
		jwt, err := SignAssertion(testKeys()[signer], kid, a)
		if err != nil {
			t.Fatal(err)
		}
		return jwt
	}
	h.AddUser("someone@example.com")
	cases := []struct {
		name, assertion string
		code            int
		err, desc       string
	}{
		{"bad signature", signedBy(1, keyID, nil), 400, "invalid_grant", errBadSignature},
		{"tampered", h.assertion(nil)[:40] + "x" + h.assertion(nil)[41:], 400, "invalid_grant", ""},
		{"unknown kid", signedBy(0, "no-such-key", nil), 400, "invalid_grant", errBadSignature},
		{"expired", signedBy(0, keyID, func(a *Assertion) { a.IssuedAt, a.Expiry = now.Add(-2*time.Hour), now.Add(-time.Hour) }), 400, "invalid_grant", errShortLived},
		{"longer than an hour", signedBy(0, keyID, func(a *Assertion) { a.Expiry = now.Add(61 * time.Minute) }), 400, "invalid_grant", errShortLived},
		{"issued in the future", signedBy(0, keyID, func(a *Assertion) { a.IssuedAt, a.Expiry = now.Add(time.Hour), now.Add(90*time.Minute) }), 400, "invalid_grant", errShortLived},
		{"wrong audience", signedBy(0, keyID, func(a *Assertion) { a.Audience = "https://oauth2.googleapis.com/token" }), 400, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is " + h.TokenURL()},
		{"unknown service account", signedBy(0, keyID, func(a *Assertion) { a.Issuer = "nobody@x.iam.gserviceaccount.com" }), 400, "invalid_grant", errAccountMissing},
		{"scope not delegated", signedBy(0, keyID, func(a *Assertion) { a.Scopes = []string{ScopeUser, ScopeReportsAudit} }), 401, "unauthorized_client", errUnauthorized},
		{"nothing delegated", signedBy(1, "k", func(a *Assertion) { a.Issuer = "other@project.iam.gserviceaccount.com" }), 401, "unauthorized_client", errUnauthorized},
		{"subject not in the domain", signedBy(0, keyID, func(a *Assertion) { a.Subject = "ghost@example.com" }), 400, "invalid_grant", errBadSubject},
		{"no scope", signedBy(0, keyID, func(a *Assertion) { a.Scopes = nil }), 400, "invalid_scope", ""},
		{"not a JWT", "abc.def", 400, "invalid_grant", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := h.postToken(c.assertion)
			if code != c.code || body["error"] != c.err || (c.desc != "" && body["error_description"] != c.desc) {
				t.Fatalf("got %d %v, want %d %s %q", code, body, c.code, c.err, c.desc)
			}
		})
	}
	resp, err := h.Client().PostForm(h.TokenURL(), url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unsupported grant_type: %d", resp.StatusCode)
	}
}

// A service account may impersonate any user of the domain, but only a
// super admin gets through the Admin SDK.
func TestImpersonatingANonAdminIsRefusedByTheAPIs(t *testing.T) {
	h := setup(t, Options{})
	h.AddUser("bob@example.com")
	tok := h.token("bob@example.com", ScopeUserReadonly, ScopeReportsAudit)
	code, raw := h.call("GET", "/admin/directory/v1/users/bob@example.com", tok, nil)
	h.wantError(code, raw, 403, "forbidden", "Not Authorized to access this resource/api")
	code, raw = h.call("GET", "/admin/reports/v1/activity/users/all/applications/login", tok, nil)
	h.wantError(code, raw, 401, "authError", "Access denied. You are not authorized to read activity records.")

	// The service account acting as itself (no sub) is no admin either.
	code, body := h.postToken(h.assertion(func(a *Assertion) { a.Subject = "" }))
	if code != http.StatusOK {
		t.Fatalf("token without sub: %d %v", code, body)
	}
	code, raw = h.call("GET", "/admin/directory/v1/users/bob@example.com", body["access_token"].(string), nil)
	h.wantError(code, raw, 403, "forbidden", "")
}

func TestBearerTokenIsRequiredAndExpires(t *testing.T) {
	h := setup(t, Options{})
	path := "/admin/directory/v1/users/" + adminSub
	code, raw := h.call("GET", path, "", nil)
	h.wantError(code, raw, 401, "required", "")
	code, raw = h.call("GET", path, "ya29.forged", nil)
	h.wantError(code, raw, 401, "authError", "")
	tok := h.token(adminSub, ScopeUserReadonly)
	if code, raw = h.call("GET", path, tok, nil); code != http.StatusOK {
		t.Fatalf("fresh token: %d %s", code, raw)
	}
	h.clock.Step(time.Hour)
	code, raw = h.call("GET", path, tok, nil)
	h.wantError(code, raw, 401, "authError", "")
}

func TestEachEndpointRequiresItsScope(t *testing.T) {
	h := setup(t, Options{})
	h.AddUser("ann@example.com")
	h.AddGroup("eng@example.com")
	h.AddMember("eng@example.com", "ann@example.com", "")
	u, g := "/admin/directory/v1/users/ann@example.com", "/admin/directory/v1/groups/eng@example.com"
	add := map[string]string{"email": adminSub, "role": RoleMember}
	cases := []struct {
		method, path string
		body         any
		ok, denied   string // a scope that suffices, one that does not
	}{
		{"GET", u, nil, ScopeUserReadonly, ScopeGroupMember},
		{"PATCH", u, map[string]bool{"suspended": false}, ScopeUser, ScopeUserReadonly},
		{"PUT", u, map[string]bool{"suspended": false}, ScopeUser, ScopeUserSecurity},
		{"POST", u + "/signOut", nil, ScopeUserSecurity, ScopeUser},
		{"GET", g, nil, ScopeGroupReadonly, ScopeGroupMember},
		{"GET", g + "/members", nil, ScopeGroupMemberReadonly, ScopeUser},
		{"GET", g + "/members/ann@example.com", nil, ScopeGroupMemberReadonly, ScopeUser},
		{"GET", g + "/hasMember/ann@example.com", nil, ScopeGroupMemberReadonly, ScopeUser},
		{"POST", g + "/members", add, ScopeGroupMember, ScopeGroupMemberReadonly},
		{"DELETE", g + "/members/" + adminSub, nil, ScopeGroupMember, ScopeGroupMemberReadonly},
		{"GET", "/admin/reports/v1/activity/users/all/applications/login", nil, ScopeReportsAudit, ScopeUser},
	}
	for _, c := range cases {
		code, raw := h.call(c.method, c.path, h.token(adminSub, c.denied), c.body)
		h.wantError(code, raw, 403, "insufficientPermissions", "Request had insufficient authentication scopes.")
		if code, raw = h.call(c.method, c.path, h.token(adminSub, c.ok), c.body); code/100 != 2 {
			t.Fatalf("%s %s with %s: %d %s", c.method, c.path, c.ok, code, raw)
		}
	}
}

func TestInjectedFaultsAndOutage(t *testing.T) {
	h := setup(t, Options{})
	h.AddGroup("eng@example.com")
	tok := h.token(adminSub, ScopeGroupMemberReadonly)
	path := "/admin/directory/v1/groups/eng@example.com/members"
	h.InjectFault(path, 2, http.StatusTooManyRequests)
	h.InjectFault(path, 1, http.StatusServiceUnavailable)
	h.InjectFault(path, 1, http.StatusInternalServerError)
	h.InjectFault(path, 1, http.StatusForbidden)
	for range 2 {
		code, raw := h.call("GET", path, tok, nil)
		h.wantError(code, raw, 429, "rateLimitExceeded", "")
	}
	code, raw := h.call("GET", path, tok, nil)
	h.wantError(code, raw, 503, "backendError", "")
	code, raw = h.call("GET", path, tok, nil)
	h.wantError(code, raw, 500, "backendError", "")
	code, raw = h.call("GET", path, tok, nil)
	h.wantError(code, raw, 403, "userRateLimitExceeded", "")
	if code, raw = h.call("GET", path, tok, nil); code != http.StatusOK {
		t.Fatalf("after the faults: %d %s", code, raw)
	}
	if n := h.Requests("GET", path); n != 6 {
		t.Fatalf("Requests = %d, want 6", n)
	}

	h.SetDown(true)
	code, raw = h.call("GET", path, tok, nil)
	h.wantError(code, raw, 503, "backendError", "")
	if code, _ := h.postToken(h.assertion(nil)); code != http.StatusServiceUnavailable {
		t.Fatalf("token endpoint while down: %d", code)
	}
	h.SetDown(false)
	if code, _ = h.call("GET", path, tok, nil); code != http.StatusOK {
		t.Fatalf("after recovery: %d", code)
	}
}

func TestRateLimits(t *testing.T) {
	h := setup(t, Options{UserRateLimit: 2, DomainRateLimit: 3})
	h.AddUser("other-admin@example.com")
	h.AddAdmin("other-admin@example.com")
	a, b := h.token(adminSub, ScopeUserReadonly), h.token("other-admin@example.com", ScopeUserReadonly)
	path := "/admin/directory/v1/users/" + adminSub
	for range 2 {
		if code, raw := h.call("GET", path, a, nil); code != http.StatusOK {
			t.Fatalf("%d %s", code, raw)
		}
	}
	code, raw := h.call("GET", path, a, nil)
	h.wantError(code, raw, 403, "userRateLimitExceeded", "")
	if code, raw = h.call("GET", path, b, nil); code != http.StatusOK {
		t.Fatalf("another user's quota: %d %s", code, raw)
	}
	code, raw = h.call("GET", path, b, nil)
	h.wantError(code, raw, 429, "rateLimitExceeded", "")
	h.clock.Step(time.Minute)
	if code, raw = h.call("GET", path, a, nil); code != http.StatusOK {
		t.Fatalf("after a minute: %d %s", code, raw)
	}
}

func TestUnknownRouteIsAGoogleNotFound(t *testing.T) {
	h := setup(t, Options{})
	code, raw := h.call("GET", "/admin/directory/v1/nowhere", "", nil)
	h.wantError(code, raw, 404, "notFound", "")
}
