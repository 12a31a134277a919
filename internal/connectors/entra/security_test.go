package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
)

const aliceUPN = "alice@contoso.onmicrosoft.com"

// withAlice adds alice, an enabled member of payments-engineers and of
// admins, whom no grant names.
func withAlice(e *env) (admins string) {
	e.srv.AddUser(aliceUPN)
	admins = e.srv.AddGroup("admins")
	for _, g := range []string{e.group, admins} {
		if err := e.srv.AddMember(g, aliceUPN); err != nil {
			e.t.Fatal(err)
		}
	}
	return admins
}

func (e *env) aliceUntouched(admins string) {
	e.t.Helper()
	alice := e.srv.UserID(aliceUPN)
	if !e.srv.AccountEnabled(aliceUPN) || e.srv.Requests("PATCH", "/v1.0/users/"+alice) > 0 ||
		e.srv.Requests("POST", "/v1.0/users/"+alice+"/revokeSignInSessions") > 0 {
		e.t.Fatal("a grant for someone else changed alice")
	}
	for _, g := range []string{e.group, admins} {
		if !strings.Contains(strings.Join(e.srv.Members(g), ","), aliceUPN) {
			e.t.Fatal("a grant for someone else took alice out of a group")
		}
	}
}

func TestHostileGroupNamesAreLiterals(t *testing.T) {
	for _, name := range []string{
		"x' or displayName eq 'payments-engineers",
		"payments-engineers' or startswith(displayName,'a')",
		"admins'",
		"'admins'",
		"admins&$filter=displayName eq 'admins'",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			admins := withAlice(e)
			e.target.Grant.Spec.Entitlement.Name = name
			if _, err := e.apply(active); err == nil {
				t.Fatal("Ensure found a group")
			}
			if e.writes() > 0 || e.srv.Requests("POST", "/v1.0/groups/"+admins+"/members/$ref") > 0 || e.member(admins) {
				t.Fatal("a hostile group name changed a group")
			}
			e.aliceUntouched(admins)
		})
	}
	// A name with quotes and URL syntax is found as itself.
	e := newEnv(t, envOpts{})
	odd := e.srv.AddGroup("O'Brien & Partners + #1 / 100%")
	e.target.Grant.Spec.Entitlement.Name = "O'Brien & Partners + #1 / 100%"
	e.mustApply(active)
	if !e.member(odd) {
		t.Fatal("the group with quotes and URL syntax was not found")
	}
}

func TestHostileAccountsTouchOnlyTheirUser(t *testing.T) {
	// Escaped, these UPNs are found as themselves.
	for _, upn := range []string{"sam?$select=id#x@contoso.onmicrosoft.com", "guest_example.com#EXT#@contoso.onmicrosoft.com",
		"o'hara+100%@contoso.onmicrosoft.com"} {
		t.Run(upn, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			admins := withAlice(e)
			e.srv.AddUser(upn)
			e.target.Account = upn
			e.mustApply(quarantined)
			if e.srv.AccountEnabled(upn) {
				t.Fatal("the contractor's user was not quarantined")
			}
			e.aliceUntouched(admins)
		})
	}
	// These name no user, and must reach no other one.
	for _, upn := range []string{aliceUPN + "?", aliceUPN + "#", aliceUPN + "/revokeSignInSessions", "../users/" + aliceUPN,
		"..", "$" + aliceUPN, aliceUPN + "/../" + samUPN, "sam\n@contoso.onmicrosoft.com"} {
		t.Run(upn, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			admins := withAlice(e)
			e.target.Account = upn
			if _, err := e.apply(quarantined); err == nil {
				t.Fatal("Ensure found a user")
			}
			_, _ = e.apply(revoked)
			e.aliceUntouched(admins)
			if e.writes() > 0 || !e.srv.AccountEnabled(samUPN) {
				t.Fatal("sam was changed")
			}
		})
	}
}

func TestUserPaths(t *testing.T) {
	for in, want := range map[string]string{
		"a/b?c#d@x.com":  "/v1.0/users/a%2Fb%3Fc%23d@x.com",
		"$adele@x.com":   "/v1.0/users('$adele@x.com')",
		"$o'neil@x.com":  "/v1.0/users('$o%27%27neil@x.com')",
		"$a/b?#@x.com":   "/v1.0/users('$a%2Fb%3F%23@x.com')",
		"100% sure@x.co": "/v1.0/users/100%25%20sure@x.co",
	} {
		if got, err := userPath(in); err != nil || got != want {
			t.Errorf("userPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestMembersArePagedOnTheGraphHostOnly(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.c.pageSize = 2
	for i := range 7 {
		u := fmt.Sprintf("member%d@contoso.onmicrosoft.com", i)
		e.srv.AddUser(u)
		if err := e.srv.AddMember(e.group, u); err != nil {
			t.Fatal(err)
		}
	}
	// Not a member on any of the four pages: added.
	if ch := e.mustApply(active); !ch.Changed || !e.member(e.group) {
		t.Fatalf("Active: %+v", ch)
	}
	if n := e.srv.Requests("GET", "/v1.0/groups/"+e.group+"/members"); n != 4 {
		t.Fatalf("%d member pages read, want 4", n)
	}
	// A member on some page: nothing to do.
	if ch := e.mustApply(active); ch.Changed {
		t.Fatalf("sam is a member on some page, yet: %+v", ch)
	}

	// A Graph whose nextLink points at another host.
	wire := connectorstest.NewTripwire(t)
	fake, err := url.Parse(e.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(fake)
	proxy.Transport = e.srv.Client().Transport
	hostile := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/members") {
			_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{},
				"@odata.nextLink": "https://" + wire.Addr() + r.URL.Path + "?$skiptoken=x"})
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer hostile.Close()
	e.target.System.Spec.Entra.GraphEndpoint = hostile.URL // same test certificate as the fake
	_, err = e.apply(revoked)
	if err == nil || !strings.Contains(err.Error(), "refusing to follow the link") {
		t.Fatalf("a nextLink to another host: %v", err)
	}
	if wire.Connected(t) {
		t.Fatal("the connector followed a nextLink to another host")
	}
}

// echo is an identity platform and Graph that repeat the request's
// credentials in their errors.
func echo(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			_ = r.ParseForm()
			if r.PostForm.Get("client_secret") == "give-token" {
				_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-s3cret-token", "expires_in": 3600, "token_type": "Bearer"})
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_request", "error_codes": []int{900144},
				"error_description": "AADSTS900144: bad request " + r.PostForm.Encode() + " / " + r.PostForm.Get("client_secret") +
					" / " + r.PostForm.Get("client_assertion")})
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "bad " + r.Header.Get("Authorization")}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSecretsNeverInErrors(t *testing.T) {
	e := newEnv(t, envOpts{})
	srv := echo(t)
	system := e.target.System.DeepCopy()
	system.Spec.Entra.AuthorityHost, system.Spec.Entra.GraphEndpoint = srv.URL, srv.URL
	_, certPEM, keyPEM := newAppCert(t)
	for name, creds := range map[string]map[string][]byte{
		"secret":      {KeyClientID: []byte(clientID), KeyClientSecret: []byte(secret)},
		"certificate": {KeyClientID: []byte(clientID), KeyCertificate: certPEM, KeyPrivateKey: keyPEM},
		"token":       {KeyClientID: []byte(clientID), KeyClientSecret: []byte("give-token")},
	} {
		t.Run(name, func(t *testing.T) {
			c := &Connector{Timeout: 5 * time.Second}
			err := c.Check(context.Background(), system, creds)
			if err == nil {
				t.Fatal("Check passed against an echoing server")
			}
			for _, leak := range []string{secret, url.QueryEscape(secret), "s3cret", "BEGIN", "eyJ", "give-token"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("the error shows %q: %v", leak, err)
				}
			}
		})
	}
	// Credentials that do not parse say which key, never its value.
	bad := map[string][]byte{KeyClientID: []byte(clientID), KeyCertificate: []byte("s3cret-cert"), KeyPrivateKey: []byte("s3cret-key")}
	if err := e.c.Check(context.Background(), e.target.System, bad); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad PEM: %v", err)
	}
}
