package oktaserver

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIToken(t *testing.T) {
	f := newFixture(t, Options{})
	uid := f.AddUser("ann@example.com")
	if r := f.ssws(http.MethodGet, "/api/v1/users/"+uid); r.status != http.StatusOK {
		t.Fatalf("SSWS: %d %s", r.status, r.body)
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/users/"+uid, "SSWS wrong"), 401, "E0000011")
	wantError(t, f.call(http.MethodGet, "/api/v1/users/"+uid, ""), 401, "E0000011")
	wantError(t, f.call(http.MethodGet, "/api/v1/users/"+uid, "Bearer "+testAPIToken), 401, "E0000011")
	wantError(t, f.call(http.MethodGet, "/api/v1/users/"+uid, "DPoP whatever"), 401, "E0000011")

	// /users/me is the token's owner; the option token has none.
	wantError(t, f.ssws(http.MethodGet, "/api/v1/users/me"), 404, "E0000007")
	f.AddAPIToken("owned-token", uid)
	var me idLogin
	r := f.call(http.MethodGet, "/api/v1/users/me", "SSWS owned-token")
	r.json(t, &me)
	if r.status != http.StatusOK || me.ID != uid {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	if r := f.ssws(http.MethodGet, "/api/v1/org"); r.status != http.StatusOK {
		t.Fatalf("org: %d %s", r.status, r.body)
	}
}

func TestClientCredentials(t *testing.T) {
	f := newFixture(t, Options{})
	uid := f.AddUser("ben@example.com")
	r := f.tokenRequest(f.tokenForm(signJWT(t, f.key, f.claims()), "okta.users.read okta.groups.manage"))
	var tok struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	r.json(t, &tok)
	if r.status != http.StatusOK || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 ||
		tok.Scope != "okta.users.read okta.groups.manage" || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	auth := "Bearer " + tok.AccessToken
	if r := f.call(http.MethodGet, "/api/v1/users/"+uid, auth); r.status != http.StatusOK {
		t.Fatalf("GET user: %d %s", r.status, r.body)
	}
	// Missing scope: 403 with Okta's body and a Bearer challenge.
	r = f.call(http.MethodGet, "/api/v1/logs", auth)
	wantError(t, r, 403, "E0000006")
	if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="okta.logs.read"`) {
		t.Fatalf("challenge %q", ch)
	}
	wantError(t, f.call(http.MethodPost, "/api/v1/users/"+uid+"/lifecycle/suspend", auth), 403, "E0000006")
	wantError(t, f.call(http.MethodGet, "/api/v1/org", auth), 403, "E0000006")
	// users/me has no user behind a service-app token.
	wantError(t, f.call(http.MethodGet, "/api/v1/users/me", auth), 404, "E0000007")
	// okta.groups.manage covers reads of groups.
	gid := f.AddGroup("g")
	if r := f.call(http.MethodGet, "/api/v1/groups/"+gid, auth); r.status != http.StatusOK {
		t.Fatalf("GET group with manage: %d", r.status)
	}

	// The token expires after an hour.
	f.clock.Advance(time.Hour + time.Second)
	r = f.call(http.MethodGet, "/api/v1/users/"+uid, auth)
	wantError(t, r, 401, "E0000011")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("challenge %q", r.header.Get("WWW-Authenticate"))
	}
	wantError(t, f.call(http.MethodGet, "/api/v1/users/"+uid, "Bearer not-a-token"), 401, "E0000011")
}

func TestClientAssertionRejected(t *testing.T) {
	f := newFixture(t, Options{}, ScopeUsersRead, ScopeGroupsManage)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	replayed := signJWT(t, f.key, f.claims())
	if r := f.tokenRequest(f.tokenForm(replayed, ScopeUsersRead)); r.status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	with := func(k, v string) string {
		c := f.claims()
		if v == "" {
			delete(c, k)
		} else {
			c[k] = v
		}
		return signJWT(t, f.key, c)
	}
	now := f.clock.Now()
	expiredClaims := f.claims()
	expiredClaims["exp"] = now.Add(-time.Second).Unix()
	farClaims := f.claims()
	farClaims["exp"] = now.Add(3 * time.Hour).Unix()
	valid := signJWT(t, f.key, f.claims())
	tampered := valid[:strings.LastIndex(valid, ".")+1] + strings.Repeat("A", 342)

	cases := []struct {
		name      string
		form      func() map[string][]string
		status    int
		errorCode string
		desc      string
	}{
		{"bad signature", func() map[string][]string {
			return f.tokenForm(signJWT(t, otherKey, f.claims()), ScopeUsersRead)
		}, 401, "invalid_client", "signature"},
		{"tampered signature", func() map[string][]string { return f.tokenForm(tampered, ScopeUsersRead) }, 401, "invalid_client", "signature"},
		{"wrong aud", func() map[string][]string {
			return f.tokenForm(with("aud", f.URL()+"/oauth2/default/v1/token"), ScopeUsersRead)
		}, 401, "invalid_client", "audience"},
		{"expired", func() map[string][]string {
			return f.tokenForm(signJWT(t, f.key, expiredClaims), ScopeUsersRead)
		}, 401, "invalid_client", "expired"},
		{"exp too far", func() map[string][]string {
			return f.tokenForm(signJWT(t, f.key, farClaims), ScopeUsersRead)
		}, 401, "invalid_client", "future"},
		{"replayed jti", func() map[string][]string { return f.tokenForm(replayed, ScopeUsersRead) }, 401, "invalid_client", "already been used"},
		{"no jti", func() map[string][]string { return f.tokenForm(with("jti", ""), ScopeUsersRead) }, 401, "invalid_client", "jti"},
		{"unknown client", func() map[string][]string {
			c := f.claims()
			c["iss"], c["sub"] = "0oaunknown", "0oaunknown"
			return f.tokenForm(signJWT(t, f.key, c), ScopeUsersRead)
		}, 401, "invalid_client", "client_id"},
		{"sub differs", func() map[string][]string { return f.tokenForm(with("sub", "someone"), ScopeUsersRead) }, 401, "invalid_client", "subject"},
		{"not a JWT", func() map[string][]string { return f.tokenForm("abc", ScopeUsersRead) }, 401, "invalid_client", "malformed"},
		{"no assertion", func() map[string][]string { return f.tokenForm("", ScopeUsersRead) }, 401, "invalid_client", "No client credentials"},
		{"assertion type", func() map[string][]string {
			v := f.tokenForm(valid, ScopeUsersRead)
			v.Set("client_assertion_type", "urn:other")
			return v
		}, 400, "invalid_request", "client_assertion_type"},
		{"grant type", func() map[string][]string {
			v := f.tokenForm(signJWT(t, f.key, f.claims()), ScopeUsersRead)
			v.Set("grant_type", "password")
			return v
		}, 400, "unsupported_grant_type", "grant type"},
		{"no scope", func() map[string][]string { return f.tokenForm(signJWT(t, f.key, f.claims()), "") }, 400, "invalid_scope", "No scopes"},
		{"scope not granted", func() map[string][]string {
			return f.tokenForm(signJWT(t, f.key, f.claims()), "okta.users.read okta.logs.read")
		}, 400, "invalid_scope", "okta.logs.read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.tokenRequest(tc.form())
			var e OAuthError
			r.json(t, &e)
			if r.status != tc.status || e.Error != tc.errorCode || !strings.Contains(e.ErrorDescription, tc.desc) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}

	// A client registered later works, with only its scopes.
	f.RegisterClient("0oalater", &otherKey.PublicKey, ScopeLogsRead)
	c := f.claims()
	c["iss"], c["sub"] = "0oalater", "0oalater"
	form := f.tokenForm(signJWT(t, otherKey, c), ScopeLogsRead)
	form.Set("client_id", "0oalater")
	r := f.tokenRequest(form)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.json(t, &tok)
	if r.status != http.StatusOK {
		t.Fatalf("later client: %d %s", r.status, r.body)
	}
	if got := f.AccessTokenScopes(tok.AccessToken); len(got) != 1 || got[0] != ScopeLogsRead {
		t.Fatalf("scopes %v", got)
	}
}
