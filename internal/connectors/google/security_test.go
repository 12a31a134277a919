package google

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
)

// echoServer answers every request with an error that repeats what it was
// sent: the Authorization header, and the token request's form. It counts
// the requests it gets.
type echoServer struct {
	mu       sync.Mutex
	requests int
	sent     []string // assertions and tokens
	issue    bool     // whether the token endpoint issues a token
	huge     bool     // whether the API answers more than maxBody
}

func (s *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/token" {
		_ = r.ParseForm()
		s.mu.Lock()
		s.sent = append(s.sent, r.PostForm.Get("assertion"))
		s.mu.Unlock()
		if s.issue {
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.s3cret-token", "token_type": "Bearer", "expires_in": 3599})
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "bad form " + r.PostForm.Encode()})
		return
	}
	if s.huge {
		_, _ = w.Write([]byte(`{"id":"1","primaryEmail":"` + strings.Repeat("a", maxBody) + `"}`))
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 400, "message": "bad request with " + r.Header.Get("Authorization"),
		"errors": []map[string]string{{"reason": "invalid", "message": r.Header.Get("Authorization")}}}})
}

// serve starts s on TLS and returns a system pointing both endpoints at it.
func (e *env) serve(s http.Handler) (*httptest.Server, *accessv1alpha1.ConnectedSystem) {
	ts := httptest.NewTLSServer(s)
	e.t.Cleanup(ts.Close)
	system := e.target.System.DeepCopy()
	system.UID = types.UID(ts.URL) // a token cache of its own
	system.Spec.Google.Endpoint, system.Spec.Google.TokenURL = ts.URL, ts.URL+"/token"
	system.Spec.Google.CABundle = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}))
	return ts, system
}

func TestAServerEchoingSecretsDoesNotLeakThem(t *testing.T) {
	e := newEnv(t, "")
	for _, issue := range []bool{false, true} {
		srv := &echoServer{issue: issue}
		_, system := e.serve(srv)
		target := e.target
		target.System = system
		_, ensureErr := (&Connector{}).Ensure(context.Background(), target, accessv1alpha1.GrantActive)
		for _, err := range []error{(&Connector{}).Check(context.Background(), system, target.Credentials), ensureErr} {
			if err == nil || !strings.Contains(err.Error(), "400") {
				t.Fatalf("issue=%t: %v", issue, err)
			}
			e.noSecrets(err)
			for _, s := range append([]string{"s3cret-token"}, srv.sent...) {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Fatalf("issue=%t: the error shows a secret: %v", issue, err)
				}
			}
		}
	}
}

func TestAnswersAreBounded(t *testing.T) {
	e := newEnv(t, "")
	_, system := e.serve(&echoServer{issue: true, huge: true})
	e.target.System = system
	if _, err := e.apply(accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a huge answer: %v", err)
	}
}

func TestTheKeyFilesTokenURIIsNotFollowed(t *testing.T) {
	e := newEnv(t, "")
	thief := &echoServer{issue: true}
	ts, _ := e.serve(thief)
	e.target.Credentials = map[string][]byte{KeyServiceAccountKey: keyFile(t, testKeys()[0], ts.URL+"/token")}
	e.mustApply(accessv1alpha1.GrantActive)
	if err := e.check(); err != nil {
		t.Fatal(err)
	}
	if thief.requests != 0 || e.tokens() != 1 || !e.member(payments) {
		t.Fatalf("the assertion went to the key file's token_uri (%d requests)", thief.requests)
	}
	if u, err := tokenEndpoint(""); err != nil || u != DefaultTokenURL {
		t.Fatalf("the default token URL: %q %v", u, err)
	}
	if u, err := endpoint(""); err != nil || u != "https://admin.googleapis.com" {
		t.Fatalf("the default endpoint: %q %v", u, err)
	}
}

func TestCleartextIsRefusedBeforeConnecting(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	e := newEnv(t, "")
	good := e.target.System.Spec.Google
	for name, tc := range map[string]struct {
		endpoint, tokenURL string
		insecure           bool
		want               error
	}{
		"http endpoint":            {"http://" + wire.Addr(), good.TokenURL, false, connectors.ErrInsecure},
		"http endpoint, insecure":  {"http://" + wire.Addr(), good.TokenURL, true, connectors.ErrInsecure},
		"http token URL":           {good.Endpoint, "http://" + wire.Addr() + "/token", false, connectors.ErrInsecure},
		"http token URL, insecure": {good.Endpoint, "http://" + wire.Addr() + "/token", true, connectors.ErrInsecure},
		"user info in the token":   {good.Endpoint, "https://u:s3cret@" + wire.Addr() + "/token", false, connectors.ErrCredentialsInURL},
		"user info in the API":     {"https://u:s3cret@" + wire.Addr(), good.TokenURL, false, connectors.ErrCredentialsInURL},
		"a path":                   {"https://" + wire.Addr() + "/admin/", good.TokenURL, false, nil},
		"a query":                  {good.Endpoint, "https://" + wire.Addr() + "/token?x=s3cret", false, nil},
		"not https":                {"ftp://" + wire.Addr(), good.TokenURL, false, nil},
	} {
		t.Run(name, func(t *testing.T) {
			system := e.target.System.DeepCopy()
			system.Spec.Google.Endpoint, system.Spec.Google.TokenURL, system.Spec.Insecure = tc.endpoint, tc.tokenURL, tc.insecure
			target := e.target
			target.System = system
			_, err := e.c.Ensure(context.Background(), target, connectors.StateRemoved)
			for _, err := range []error{e.c.Check(context.Background(), system, target.Credentials), err} {
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to a system it refused")
			}
		})
	}
	if e.tokens() != 0 {
		t.Fatal("a request reached the token endpoint")
	}
}

func TestAccountsWithPathCharactersReachOnlyTheirUser(t *testing.T) {
	for _, account := range []string{"a/b@example.com", "../users/sam@example.com", "sam@example.com/signOut", "x?y#z%2F@example.com",
		"admin@example.com/../sam@example.com"} {
		t.Run(account, func(t *testing.T) {
			e := newEnv(t, "")
			e.srv.AddUser(account)
			e.srv.AddSession(account)
			e.target.Account = account
			e.mustApply(accessv1alpha1.GrantQuarantined)
			if !e.srv.Suspended(account) || e.srv.Sessions(account) != 0 || e.srv.MemberRole(payments, account) == "" {
				t.Fatalf("%q was not quarantined", account)
			}
			if e.srv.Suspended(sam) || e.srv.Sessions(sam) != 1 || e.member(payments) || e.srv.Suspended(adminEmail) {
				t.Fatal("another user was changed")
			}
			e.bystanderUntouched()
		})
	}
}

func TestGroupsWithPathCharactersReachOnlyTheirGroup(t *testing.T) {
	for _, group := range []string{"ops/payments@example.com", "x/../" + quarantine, quarantine + "/members", "a?b#c@example.com"} {
		t.Run(group, func(t *testing.T) {
			e := newEnv(t, "")
			e.target.Grant.Spec.Entitlement.Name = group
			if _, err := e.apply(accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "no Google Workspace group") {
				t.Fatalf("a group that does not exist: %v", err)
			}
			e.srv.AddGroup(group)
			e.mustApply(accessv1alpha1.GrantActive)
			if e.srv.MemberRole(group, sam) != "MEMBER" || e.member(payments) || e.member(quarantine) {
				t.Fatal("the grant must reach exactly the group it names")
			}
			e.bystanderUntouched()
		})
	}
	e := newEnv(t, "")
	for _, bad := range []string{"", ".", "..", " " + payments, payments + "\n", "\xff@example.com"} {
		e.target.Grant.Spec.Entitlement.Name = bad
		if _, err := e.apply(accessv1alpha1.GrantActive); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if e.writes() != 0 {
		t.Fatal("a refused group was written")
	}
}
