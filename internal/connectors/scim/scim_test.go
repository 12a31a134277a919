package scim

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/test/scimserver"
)

func fixture(t *testing.T, mode accessv1alpha1.SCIMQuarantineMode) (*scimserver.Server, connectors.Target, string, string, string) {
	t.Helper()
	srv := scimserver.Start(t)
	user := srv.AddUser("sam@contractors.example.com")
	group := srv.AddGroup("payments-engineers")
	quarantine := srv.AddGroup("quarantine")
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "idp"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeSCIM, Insecure: true, // the test server is http://
			SCIM: &accessv1alpha1.SCIMSettings{URL: srv.URL, QuarantineMode: mode, QuarantineGroup: "quarantine"}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: "payments-engineers"}}}
	return srv, connectors.Target{Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{},
		Account: "sam@contractors.example.com", Credentials: map[string][]byte{KeyToken: []byte(scimserver.Token)}}, user, group, quarantine
}

func ensure(t *testing.T, target connectors.Target, s accessv1alpha1.GrantState) connectors.Change {
	t.Helper()
	ch, err := (&Connector{}).Ensure(context.Background(), target, s)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", s, err)
	}
	return ch
}

func TestDeactivateModeAgainstTheLibraryServer(t *testing.T) {
	srv, target, user, group, _ := fixture(t, "")
	ensure(t, target, accessv1alpha1.GrantActive)
	if !srv.Member(group, user) || !srv.Active(user) {
		t.Fatal("not a member after Active")
	}
	writes := len(srv.Writes())
	if ch := ensure(t, target, accessv1alpha1.GrantActive); ch.Changed || len(srv.Writes()) != writes {
		t.Fatalf("applying Active twice wrote to the server: %v", srv.Writes()[writes:])
	}
	ensure(t, target, accessv1alpha1.GrantQuarantined)
	if srv.Active(user) || !srv.Member(group, user) {
		t.Fatal("quarantine must deactivate the user and keep the membership")
	}
	ensure(t, target, accessv1alpha1.GrantActive)
	if !srv.Active(user) {
		t.Fatal("restore did not reactivate the user")
	}
	ensure(t, target, accessv1alpha1.GrantRevoked)
	if srv.Member(group, user) {
		t.Fatal("revoked but still a member")
	}
	if ch := ensure(t, target, accessv1alpha1.GrantRevoked); ch.Changed {
		t.Fatal("applying Revoked twice changed the server")
	}
}

func TestGroupModeAndDrift(t *testing.T) {
	srv, target, user, group, quarantine := fixture(t, "Group")
	ensure(t, target, accessv1alpha1.GrantActive)
	ensure(t, target, accessv1alpha1.GrantQuarantined)
	if srv.Member(group, user) || !srv.Member(quarantine, user) || !srv.Active(user) {
		t.Fatal("group mode must move the user to the quarantine group")
	}
	ensure(t, target, accessv1alpha1.GrantActive)
	if !srv.Member(group, user) || srv.Member(quarantine, user) {
		t.Fatal("restore must move the user back")
	}

	srv.SetMember(group, user, false)
	if ch := ensure(t, target, accessv1alpha1.GrantActive); !ch.Changed || !srv.Member(group, user) {
		t.Fatal("membership removed out of band was not restored")
	}
	ensure(t, target, accessv1alpha1.GrantRevoked)
	srv.SetMember(group, user, true)
	if ch := ensure(t, target, accessv1alpha1.GrantRevoked); !ch.Changed || srv.Member(group, user) {
		t.Fatal("membership re-added out of band was not removed")
	}
}

func TestCheckAndFaults(t *testing.T) {
	srv, target, user, group, _ := fixture(t, "")
	c := &Connector{}
	if err := c.Check(context.Background(), target.System, target.Credentials); err != nil {
		t.Fatalf("Check: %v", err)
	}
	bad := map[string][]byte{KeyToken: []byte("wrong-token")}
	if err := c.Check(context.Background(), target.System, bad); !errors.Is(err, connectors.ErrCredentials) {
		t.Errorf("wrong token: %v", err)
	} else if strings.Contains(err.Error(), "wrong-token") {
		t.Error("the error shows the token")
	}
	srv.SetDown(true)
	if _, err := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Ensure against a failing server: %v", err)
	}
	srv.SetDown(false)
	ensure(t, target, accessv1alpha1.GrantActive)
	if !srv.Member(group, user) {
		t.Error("not applied after the server recovered")
	}
	gone := target.System.DeepCopy()
	gone.Spec.SCIM.URL = "http://127.0.0.1:1/scim/v2"
	if err := c.Check(context.Background(), gone, target.Credentials); !errors.Is(err, connectors.ErrUnreachable) {
		t.Errorf("closed port: %v, want ErrUnreachable", err)
	}
}

// The operations are RFC 7644's: lower-case op names, a boolean active on
// its path.
func TestPatchOperations(t *testing.T) {
	a := &api{}
	if raw := mustJSON(t, a.op("replace", "active", false)); raw != `{"op":"replace","path":"active","value":false}` {
		t.Errorf("replace active: %s", raw)
	}
}

// A system stored with a dialect of earlier versions is refused with what
// to do, before anything is sent.
func TestRemovedDialectsAreRefused(t *testing.T) {
	for _, d := range []string{"okta", "entra"} {
		system := &accessv1alpha1.ConnectedSystem{Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeSCIM,
			SCIM: &accessv1alpha1.SCIMSettings{URL: "https://scim.example.com/scim/v2", Dialect: accessv1alpha1.SCIMDialect(d)}}}
		err := (&Connector{}).Check(context.Background(), system, map[string][]byte{KeyToken: []byte("t")})
		if err == nil || !strings.Contains(err.Error(), "is no longer supported") || !strings.Contains(err.Error(), "use the okta or entra system type") {
			t.Errorf("dialect %s: %v", d, err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
