package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/test/scimserver"
)

// newTarget is a grant of group to account on the SCIM system at url.
func newTarget(url, account, group string, insecure bool) connectors.Target {
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "idp"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeSCIM, Insecure: insecure,
			SCIM: &accessv1alpha1.SCIMSettings{URL: url}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: group}}}
	return connectors.Target{Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{},
		Account: account, Credentials: map[string][]byte{KeyToken: []byte(scimserver.Token)}}
}

// bystanders is a server with alice, an active member of two groups, whom
// no grant names.
type bystanders struct {
	srv                    *scimserver.Server
	alice, payments, admin string
}

func withBystanders(t *testing.T) bystanders {
	srv := scimserver.Start(t)
	b := bystanders{srv: srv, alice: srv.AddUser("alice@contractors.example.com"),
		payments: srv.AddGroup("payments-engineers"), admin: srv.AddGroup("admins")}
	srv.SetMember(b.payments, b.alice, true)
	srv.SetMember(b.admin, b.alice, true)
	return b
}

// untouched fails unless alice is as she was and no write named her.
func (b bystanders) untouched(t *testing.T) {
	t.Helper()
	if !b.srv.Active(b.alice) || !b.srv.Member(b.payments, b.alice) || !b.srv.Member(b.admin, b.alice) {
		t.Fatal("a grant for someone else changed alice")
	}
	for _, w := range b.srv.Writes() {
		if strings.HasSuffix(w, "/Users/"+b.alice) {
			t.Fatalf("a grant for someone else wrote %s", w)
		}
	}
}

func TestHostileAccountsTouchOnlyTheirUser(t *testing.T) {
	for _, account := range hostileIDs[1:] {
		if account == "" {
			continue
		}
		// Without a user of its own, a filter that matched more than
		// the account would find only alice.
		for _, provisioned := range []bool{true, false} {
			t.Run(fmt.Sprintf("%q provisioned=%t", account, provisioned), func(t *testing.T) {
				b := withBystanders(t)
				own := "none"
				if provisioned && utf8.ValidString(account) {
					own = b.srv.AddUser(account)
				}
				target := newTarget(b.srv.URL, account, "payments-engineers", true)
				c := &Connector{}
				_, err := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive)
				// The library's filter matching compares a literal's
				// text without decoding its escapes, so an id with " or
				// \ is not found there: the connector then changes nobody.
				if err == nil && !b.srv.Member(b.payments, own) {
					t.Fatal("Active succeeded without adding the contractor's user")
				}
				if err == nil {
					if _, err := c.Ensure(context.Background(), target, accessv1alpha1.GrantQuarantined); err != nil || b.srv.Active(own) {
						t.Fatalf("quarantine: %v", err)
					}
				}
				_, _ = c.Ensure(context.Background(), target, accessv1alpha1.GrantRevoked)
				b.untouched(t)
			})
		}
	}
}

func TestHostileAccountsWithURLSyntaxAreFound(t *testing.T) {
	for _, account := range []string{"alice&filter=userName pr", "../Groups/g1", "a/b?c#d e%zz", "a,cn=admins", "*)(uid=*"} {
		b := withBystanders(t)
		own := b.srv.AddUser(account)
		target := newTarget(b.srv.URL, account, "payments-engineers", true)
		if _, err := (&Connector{}).Ensure(context.Background(), target, accessv1alpha1.GrantQuarantined); err != nil {
			t.Fatalf("%q: %v", account, err)
		}
		if b.srv.Active(own) || !b.srv.Member(b.payments, own) {
			t.Fatalf("%q: the contractor's user was not quarantined", account)
		}
		b.untouched(t)
	}
}

func TestHostileGroupNamesChangeNoOtherGroup(t *testing.T) {
	for _, group := range []string{
		`x" or displayName pr or displayName eq "y`,
		`admins" or displayName eq "payments-engineers`,
		"..", ".", "\xff",
	} {
		b := withBystanders(t)
		sam := b.srv.AddUser("sam@contractors.example.com")
		target := newTarget(b.srv.URL, "sam@contractors.example.com", group, true)
		if _, err := (&Connector{}).Ensure(context.Background(), target, accessv1alpha1.GrantActive); err == nil {
			t.Errorf("%q: Ensure found a group", group)
		}
		if b.srv.Member(b.payments, sam) || b.srv.Member(b.admin, sam) || len(b.srv.Writes()) > 0 {
			t.Errorf("%q: the grant changed a group: %v", group, b.srv.Writes())
		}
		b.untouched(t)
	}
}

func TestHostileLookalikeGroupIsRefused(t *testing.T) {
	b := withBystanders(t)
	b.srv.AddGroup("Payments-Engineers")
	b.srv.AddUser("sam@contractors.example.com")
	target := newTarget(b.srv.URL, "sam@contractors.example.com", "payments-engineers", true)
	_, err := (&Connector{}).Ensure(context.Background(), target, accessv1alpha1.GrantActive)
	if err == nil || !strings.Contains(err.Error(), "refusing to pick one") {
		t.Fatalf("two groups match: %v", err)
	}
	if len(b.srv.Writes()) > 0 {
		t.Fatalf("wrote %v", b.srv.Writes())
	}
}

func TestCleartextIsRefusedBeforeConnecting(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	c := &Connector{}
	for name, tc := range map[string]struct {
		url      string
		insecure bool
		want     error
	}{
		"http without insecure":        {"http://" + wire.Addr() + "/scim/v2", false, connectors.ErrInsecure},
		"user info":                    {"https://admin:s3cret@" + wire.Addr() + "/scim/v2", false, connectors.ErrCredentialsInURL},
		"user info, insecure":          {"http://s3cret@" + wire.Addr() + "/scim/v2", true, connectors.ErrCredentialsInURL},
		"a secret in the query":        {"https://" + wire.Addr() + "/scim/v2?apikey=s3cret", false, nil},
		"not http":                     {"ftp://" + wire.Addr() + "/scim/v2", true, nil},
		"a URL that does not parse":    {"https://admin:s3cret@" + wire.Addr() + "/%zz", false, nil},
		"a host-less URL with secrets": {"https:///scim?token=s3cret", false, nil},
	} {
		t.Run(name, func(t *testing.T) {
			target := newTarget(tc.url, "sam", "payments-engineers", tc.insecure)
			errs := []error{c.Check(context.Background(), target.System, target.Credentials)}
			_, err := c.Ensure(context.Background(), target, accessv1alpha1.GrantRevoked)
			errs = append(errs, err)
			for _, err := range errs {
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), scimserver.Token) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to a system it refused")
			}
		})
	}
}

func TestInsecureProviderEchoingTheTokenDoesNotLeakIt(t *testing.T) {
	// A provider that echoes the request's Authorization header in its
	// error detail.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"detail": "bad request with " + r.Header.Get("Authorization")})
	}))
	defer echo.Close()
	target := newTarget(echo.URL, "sam", "payments-engineers", true)
	target.Credentials[KeyToken] = []byte("tok-s3cret")
	err := (&Connector{}).Check(context.Background(), target.System, target.Credentials)
	if err == nil || !strings.Contains(err.Error(), "400") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Check: %v", err)
	}
}
