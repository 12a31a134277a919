package ssf_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/test/ssfserver"
)

func newTransmitter(t *testing.T, opts ssfserver.Options) *ssfserver.Server {
	t.Helper()
	s, err := ssfserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func streamClient(t *testing.T, s *ssfserver.Server, token string) *ssf.StreamClient {
	t.Helper()
	md, err := ssf.Discover(context.Background(), s.Client(), s.Issuer())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return &ssf.StreamClient{HTTP: s.Client(), Metadata: md, Token: token}
}

func TestWellKnownURL(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://idp.example":              "https://idp.example/.well-known/ssf-configuration",
		"https://idp.example/":             "https://idp.example/.well-known/ssf-configuration",
		"https://idp.example/tenant/a/":    "https://idp.example/.well-known/ssf-configuration/tenant/a",
		"https://idp.example:8443/t":       "https://idp.example:8443/.well-known/ssf-configuration/t",
		"http://idp.example":               "",
		"https://user:pw@idp.example":      "",
		"https://idp.example/?tenant=a":    "",
		"https://idp.example/#f":           "",
		"idp.example/.well-known/whatever": "",
	} {
		got, err := ssf.WellKnownURL(issuer)
		if want == "" {
			if err == nil {
				t.Errorf("WellKnownURL(%q) = %q, want an error", issuer, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("WellKnownURL(%q) = %q, %v; want %q", issuer, got, err, want)
		}
	}
}

func TestStreamClientCreateGetListUpdate(t *testing.T) {
	ctx := context.Background()
	s := newTransmitter(t, ssfserver.Options{})
	c := streamClient(t, s, s.Token())
	created, err := c.Create(ctx, &ssf.StreamConfig{
		EventsRequested: []string{ssf.EventCredentialCompromise, ssf.EventSessionRevoked},
		Delivery:        ssf.StreamDelivery{Method: ssf.MethodPoll}, Description: "portcullis",
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.StreamID == "" || !strings.HasPrefix(created.Delivery.EndpointURL, "https://") || len(created.EventsDelivered) != 2 {
		t.Fatalf("created %+v", created)
	}
	got, err := c.Get(ctx, created.StreamID)
	if err != nil || got.StreamID != created.StreamID || got.Audience[0] != s.Audience() {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	got.EventsRequested = []string{ssf.EventAccountDisabled}
	updated, err := c.Update(ctx, got)
	if err != nil || !slices.Equal(updated.EventsDelivered, []string{ssf.EventAccountDisabled}) {
		t.Fatalf("Update = %+v, %v", updated, err)
	}
}

func TestStreamClientStatusSubjectsVerifyDelete(t *testing.T) {
	ctx := context.Background()
	s := newTransmitter(t, ssfserver.Options{})
	c := streamClient(t, s, s.Token())
	created, err := c.Create(ctx, &ssf.StreamConfig{Delivery: ssf.StreamDelivery{Method: ssf.MethodPoll}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	st, err := c.SetStatus(ctx, ssf.StreamStatus{StreamID: created.StreamID, Status: ssf.StreamPaused, Reason: "maintenance"})
	if err != nil || st.Status != ssf.StreamPaused {
		t.Fatalf("SetStatus = %+v, %v", st, err)
	}
	if st, err = c.Status(ctx, created.StreamID); err != nil || st.Status != ssf.StreamPaused || st.Reason != "maintenance" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	sub := &ssf.SubjectID{Format: ssf.FormatEmail, Email: "a@example.com"}
	if err := c.AddSubject(ctx, ssf.SubjectRequest{StreamID: created.StreamID, Subject: sub}); err != nil {
		t.Fatalf("AddSubject: %v", err)
	}
	if err := c.RemoveSubject(ctx, ssf.SubjectRequest{StreamID: created.StreamID, Subject: sub}); err != nil {
		t.Fatalf("RemoveSubject: %v", err)
	}
	if err := c.Verify(ctx, ssf.VerificationRequest{StreamID: created.StreamID, State: "abc"}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n := len(s.Pending(created.StreamID)); n != 1 {
		t.Fatalf("%d SETs pending after Verify, want the verification event", n)
	}
	if err := c.Delete(ctx, created.StreamID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Get(ctx, created.StreamID); !errors.Is(err, ssf.ErrStreamNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrStreamNotFound", err)
	}
}

func TestStreamClientWrongTokenIsRefusedWithoutTheToken(t *testing.T) {
	s := newTransmitter(t, ssfserver.Options{})
	const wrong = "wrong-token-0123456789"
	c := streamClient(t, s, wrong)
	_, err := c.Create(context.Background(), &ssf.StreamConfig{Delivery: ssf.StreamDelivery{Method: ssf.MethodPoll}})
	if !errors.Is(err, ssf.ErrCredentialsRefused) {
		t.Fatalf("Create with a wrong token: %v, want ErrCredentialsRefused", err)
	}
	var me *ssf.ManagementError
	if !errors.As(err, &me) || me.StatusCode != http.StatusUnauthorized {
		t.Fatalf("error %v is no 401 ManagementError", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), s.Token()) {
		t.Fatalf("the error holds a token: %v", err)
	}
}

func TestStreamClientConflictOnSingleStream(t *testing.T) {
	ctx := context.Background()
	s := newTransmitter(t, ssfserver.Options{SingleStream: true})
	c := streamClient(t, s, s.Token())
	cfg := &ssf.StreamConfig{Delivery: ssf.StreamDelivery{Method: ssf.MethodPoll}}
	if _, err := c.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, cfg); !errors.Is(err, ssf.ErrStreamConflict) {
		t.Fatalf("second Create: %v, want ErrStreamConflict", err)
	}
}

// hostileTransmitter serves metadata that change would spoil.
func hostileTransmitter(t *testing.T, change func(md map[string]any, w http.ResponseWriter) bool) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := srv.URL
		md := map[string]any{
			"issuer": base, "jwks_uri": base + "/jwks", "configuration_endpoint": base + "/ssf/stream",
			"status_endpoint": base + "/ssf/status", "verification_endpoint": base + "/ssf/verify",
		}
		if change(md, w) {
			return
		}
		_ = json.NewEncoder(w).Encode(md)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDiscoverRefusesHostileMetadata(t *testing.T) {
	cases := map[string]func(md map[string]any, w http.ResponseWriter) bool{
		"another issuer": func(md map[string]any, _ http.ResponseWriter) bool {
			md["issuer"] = "https://evil.example"
			return false
		},
		"http endpoint": func(md map[string]any, _ http.ResponseWriter) bool {
			md["configuration_endpoint"] = "http://127.0.0.1/ssf/stream"
			return false
		},
		"http jwks": func(md map[string]any, _ http.ResponseWriter) bool {
			md["jwks_uri"] = "http://127.0.0.1/jwks"
			return false
		},
		"no jwks": func(md map[string]any, _ http.ResponseWriter) bool {
			delete(md, "jwks_uri")
			return false
		},
		"oversize body": func(md map[string]any, w http.ResponseWriter) bool {
			md["padding"] = strings.Repeat("x", ssf.MaxManagementBytes)
			_ = json.NewEncoder(w).Encode(md)
			return true
		},
		"not found": func(_ map[string]any, w http.ResponseWriter) bool {
			w.WriteHeader(http.StatusNotFound)
			return true
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			srv := hostileTransmitter(t, change)
			md, err := ssf.Discover(context.Background(), srv.Client(), srv.URL)
			if err == nil {
				t.Fatalf("Discover accepted %+v", md)
			}
		})
	}
	t.Run("honest", func(t *testing.T) {
		srv := hostileTransmitter(t, func(map[string]any, http.ResponseWriter) bool { return false })
		if _, err := ssf.Discover(context.Background(), srv.Client(), srv.URL); err != nil {
			t.Fatalf("Discover: %v", err)
		}
	})
}

func TestDiscoverRefusesAnHTTPIssuer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := ssf.Discover(context.Background(), srv.Client(), srv.URL); !errors.Is(err, ssf.ErrBadMetadata) {
		t.Fatalf("Discover(http://...) = %v, want ErrBadMetadata", err)
	}
}
