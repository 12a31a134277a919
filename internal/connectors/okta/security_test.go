package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

// inNoGroup fails when sam is in any group, or anything was written.
func (e *env) inNoGroup(t *testing.T) {
	t.Helper()
	for _, g := range []string{e.payments, e.admins, e.quarantine} {
		if e.member(g, login) {
			t.Fatalf("sam was added to %s", g)
		}
	}
	if e.writes() != 0 {
		t.Fatalf("%d writes", e.writes())
	}
}

func TestHostileGroupNamesMatchNoOtherGroup(t *testing.T) {
	for _, name := range []string{
		`x" or profile.name pr or profile.name eq "y`,
		`admins" or profile.name eq "payments-engineers`,
		`admins\`,
		`\" or profile.name pr or "`,
		`payments-engineers" and profile.name sw "`,
		"", ".", "admins\x00", "\xff", "admins\n",
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			e := newEnv(t, "", true, oktaserver.Options{})
			e.target.Grant.Spec.Entitlement.Name = name
			if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil {
				t.Fatal("Ensure found a group")
			}
			e.inNoGroup(t)
			e.bystanderUntouched(t)
		})
	}
}

func TestQuotesAndBackslashesInAGroupNameAreEscaped(t *testing.T) {
	if f, _ := nameFilter(`pay"ments\team`); f != `profile.name eq "pay\"ments\\team"` {
		t.Fatalf("filter %s", f)
	}
	e := newEnv(t, "", true, oktaserver.Options{})
	odd := e.srv.AddGroup(`pay"ments\team`)
	e.target.Grant.Spec.Entitlement.Name = `pay"ments\team`
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	if !e.member(odd, login) || e.member(e.payments, login) || e.member(e.admins, login) {
		t.Fatal("the grant must reach exactly the group it names")
	}
}

func TestLookalikeGroupsAreRefused(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	e.srv.AddGroup("Payments-Engineers")
	if _, err := e.try("t1", accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "refusing to pick one") {
		t.Fatalf("two groups match: %v", err)
	}
	e.inNoGroup(t)
}

func TestLoginsWithURLSyntaxArePathEscaped(t *testing.T) {
	for _, account := range []string{"a/b?c@example.com", "x?limit=1&search=profile.login pr", "../groups/x", "a#b %zz@example.com"} {
		t.Run(account, func(t *testing.T) {
			e := newEnv(t, "", true, oktaserver.Options{})
			e.srv.AddUser(account)
			e.target.Account = account
			e.ensure(t, "t1", accessv1alpha1.GrantQuarantined)
			if e.srv.UserStatus(account) != oktaserver.StatusSuspended || !e.member(e.payments, account) {
				t.Fatalf("%q was not quarantined: %v", account, e.srv.Members(e.payments))
			}
			if e.srv.UserStatus(login) != oktaserver.StatusActive {
				t.Fatal("another user was suspended")
			}
			e.bystanderUntouched(t)
		})
	}
}

func TestAccountsThatResolveToAnotherUserAreRefused(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	for _, account := range []string{"alice", e.alice, "me", ".", ".."} {
		e.target.Account = account
		if _, err := e.try("t1", accessv1alpha1.GrantQuarantined); err == nil {
			t.Errorf("%q: Ensure acted on another user", account)
		}
	}
	if e.writes() != 0 {
		t.Fatalf("%d writes", e.writes())
	}
	e.bystanderUntouched(t)
}

func TestCleartextIsRefusedBeforeConnecting(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	e := newEnv(t, "", true, oktaserver.Options{})
	fake := strings.TrimPrefix(e.srv.URL(), "https://")
	for name, tc := range map[string]struct {
		url      string
		insecure bool
		want     error
	}{
		"http without insecure":         {"http://" + wire.Addr(), false, connectors.ErrInsecure},
		"http to the org":               {"http://" + fake, false, connectors.ErrInsecure},
		"user info":                     {"https://admin:s3cret@" + wire.Addr(), false, connectors.ErrCredentialsInURL},
		"user info, insecure":           {"http://s3cret@" + wire.Addr(), true, connectors.ErrCredentialsInURL},
		"a path":                        {"https://" + wire.Addr() + "/oauth2/default", false, nil},
		"a secret in the query":         {"https://" + wire.Addr() + "/?token=s3cret", false, nil},
		"the admin host":                {"https://example-admin.okta.com", false, nil},
		"not http":                      {"ftp://" + wire.Addr(), true, nil},
		"a URL that does not parse":     {"https://admin:s3cret@" + wire.Addr() + "/%zz", false, nil},
		"a host-less URL with a secret": {"https:///?token=s3cret", false, nil},
	} {
		t.Run(name, func(t *testing.T) {
			system := e.target.System.DeepCopy()
			system.Spec.Okta.OrgURL, system.Spec.Insecure = tc.url, tc.insecure
			target := e.target
			target.System = system
			_, err := e.c.Ensure(context.Background(), target, connectors.StateRemoved)
			for _, err := range []error{e.c.Check(context.Background(), system, target.Credentials), err} {
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows a secret: %v", err)
				}
				e.noSecrets(err)
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to a system it refused")
			}
		})
	}
	if e.srv.Requests(oktaserver.RouteToken)+e.srv.Requests(oktaserver.RouteGetUser)+e.srv.Requests(oktaserver.RouteListGroups) != 0 {
		t.Fatal("a request reached the org")
	}
}

// echoOrg answers every request with an error that repeats what it was
// sent: the Authorization header, and the token request's form.
type echoOrg struct {
	mu         sync.Mutex
	assertions []string
	issue      bool // whether the token endpoint issues a token
}

func (o *echoOrg) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == tokenPath {
		_ = r.ParseForm()
		o.mu.Lock()
		o.assertions = append(o.assertions, r.PostForm.Get("client_assertion"))
		o.mu.Unlock()
		if o.issue {
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-s3cret-token", "token_type": "Bearer", "expires_in": 3600})
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "bad form " + r.PostForm.Encode()})
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorCode": "E0000001", "errorSummary": "bad request with " + r.Header.Get("Authorization")})
}

func TestAnOrgEchoingCredentialsDoesNotLeakThem(t *testing.T) {
	e := newEnv(t, "", true, oktaserver.Options{})
	for _, issue := range []bool{false, true} {
		for _, oauth := range []bool{true, false} {
			org := &echoOrg{issue: issue}
			ts := httptest.NewServer(org)
			system := e.target.System.DeepCopy()
			system.UID = "echo"
			system.Spec.Okta.OrgURL, system.Spec.Insecure = ts.URL, true
			creds := map[string][]byte{KeyAPIToken: []byte(apiToken)}
			if oauth {
				creds = e.target.Credentials
			}
			target := e.target
			target.System, target.Credentials = system, creds
			_, ensureErr := (&Connector{}).Ensure(context.Background(), target, accessv1alpha1.GrantActive)
			for _, err := range []error{(&Connector{}).Check(context.Background(), system, creds), ensureErr} {
				if err == nil || !strings.Contains(err.Error(), "400") {
					t.Fatalf("issue=%t oauth=%t: %v", issue, oauth, err)
				}
				e.noSecrets(err)
				secrets := append([]string{"at-s3cret-token"}, org.assertions...)
				for _, s := range secrets {
					if s != "" && strings.Contains(err.Error(), s) {
						t.Fatalf("issue=%t oauth=%t: the error shows a secret: %v", issue, oauth, err)
					}
				}
			}
			ts.Close()
		}
	}
}

func TestMembershipIsPagedAndBounded(t *testing.T) {
	e := newEnv(t, "", false, oktaserver.Options{})
	for i := range 2100 {
		e.srv.AddMember(e.payments, e.srv.AddUser(fmt.Sprintf("user%04d@example.com", i)))
	}
	e.ensure(t, "t1", accessv1alpha1.GrantActive)
	if !e.member(e.payments, login) || e.srv.Requests(oktaserver.RouteListGroupMembers) != 3 {
		t.Fatalf("%d pages read, want 3", e.srv.Requests(oktaserver.RouteListGroupMembers))
	}
	if ch := e.ensure(t, "t1", accessv1alpha1.GrantActive); ch.Changed {
		t.Fatal("a member on a later page was not found")
	}
}

func TestNextLinksStayOnTheOrg(t *testing.T) {
	e := newEnv(t, "", false, oktaserver.Options{})
	a, err := e.c.client(e.target.System, e.target.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "/api/v1/groups/00g1/users"
	org := e.srv.URL()
	if p, err := a.samePath(org+endpoint+"?after=00u2&limit=1000", endpoint); err != nil || p != endpoint+"?after=00u2&limit=1000" {
		t.Fatalf("a good link: %q %v", p, err)
	}
	for _, link := range []string{
		"https://attacker.example.com" + endpoint + "?after=x",
		"http://" + strings.TrimPrefix(org, "https://") + endpoint,
		org + "/api/v1/groups/00g2/users?after=x",
		org + "/api/v1/users?after=x",
		"https://user:pw@" + strings.TrimPrefix(org, "https://") + endpoint,
		"%zz",
	} {
		if _, err := a.samePath(link, endpoint); err == nil {
			t.Errorf("followed %s", link)
		}
	}
	h := http.Header{}
	h.Add("Link", `<https://o/a?after=1>; rel="self"`)
	h.Add("Link", `<https://o/a?after=2>; rel="next"`)
	if got := nextLink(h); got != "https://o/a?after=2" {
		t.Fatalf("next %q", got)
	}
	if got := nextLink(http.Header{"Link": {`<https://o/a>; rel="self", <https://o/b>; rel=next`}}); got != "https://o/b" {
		t.Fatalf("next %q", got)
	}
}
