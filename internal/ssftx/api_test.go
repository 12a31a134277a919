package ssftx

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

func TestMetadataAndJWKS(t *testing.T) {
	f := newFixture(t)
	var md ssf.TransmitterMetadata
	f.must(http.StatusOK, http.MethodGet, ssf.WellKnownPath, "", nil, &md)
	want := ssf.TransmitterMetadata{
		SpecVersion: "1_0", Issuer: f.srv.URL, JWKSURI: f.srv.URL + PathJWKS,
		DeliveryMethodsSupported: []string{ssf.MethodPush, ssf.MethodPoll},
		ConfigurationEndpoint:    f.srv.URL + PathStream, StatusEndpoint: f.srv.URL + PathStatus,
		AddSubjectEndpoint: f.srv.URL + PathAdd, RemoveSubjectEndpoint: f.srv.URL + PathRemove,
		VerificationEndpoint: f.srv.URL + PathVerify,
		AuthorizationSchemes: []ssf.AuthorizationScheme{{SpecURN: ssf.SchemeBearer}}, DefaultSubjects: "ALL",
	}
	got, _ := json.Marshal(md)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Errorf("metadata\n got %s\nwant %s", got, exp)
	}
	code, body := f.do(http.MethodGet, PathJWKS, "", nil)
	if code != http.StatusOK {
		t.Fatalf("jwks: %d %s", code, body)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := set.LookupKeyID("k1")
	if !ok || set.Len() != 1 {
		t.Fatalf("jwks has %d keys, k1 %v", set.Len(), ok)
	}
	if alg, _ := key.Algorithm(); alg.String() != "ES256" {
		t.Errorf("alg %v, want ES256", alg)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	if strings.Contains(string(body), `"d"`) {
		t.Errorf("the JWKS holds private key material: %s", body)
	}
}

func TestStreamManagement(t *testing.T) {
	f := newFixture(t)
	cfg := f.createStream(aliceToken, "")
	if cfg.Issuer != f.srv.URL || len(cfg.Audience) != 1 || cfg.Audience[0] != "alice" ||
		cfg.Delivery.EndpointURL != f.srv.URL+PathPollBase+cfg.StreamID || len(cfg.EventsDelivered) != 3 {
		t.Fatalf("created %+v", cfg)
	}
	var read ssf.StreamConfig
	f.must(http.StatusOK, http.MethodGet, PathStream+"?stream_id="+cfg.StreamID, aliceToken, nil, &read)
	if read.StreamID != cfg.StreamID {
		t.Errorf("read %+v", read)
	}
	// PATCH keeps what it does not name; PUT resets it.
	desc := "hr feed"
	f.must(http.StatusOK, http.MethodPatch, PathStream, aliceToken,
		map[string]any{"stream_id": cfg.StreamID, "description": desc, "events_requested": []string{ssf.EventAccountEnabled, "urn:unknown"}}, &read)
	if read.Description != desc || !slices.Equal(read.EventsDelivered, []string{ssf.EventAccountEnabled}) ||
		read.Delivery.Method != ssf.MethodPoll {
		t.Errorf("updated %+v", read)
	}
	var replaced ssf.StreamConfig
	f.must(http.StatusOK, http.MethodPut, PathStream, aliceToken, map[string]any{"stream_id": cfg.StreamID}, &replaced)
	if replaced.Description != "" || len(replaced.EventsDelivered) != 0 {
		t.Errorf("replaced %+v", replaced)
	}
	second := f.createStream(aliceToken, "https://receiver.example.test/ssf")
	if second.Delivery.AuthorizationHeader != "" {
		t.Errorf("the authorization_header was answered back")
	}
	var list []ssf.StreamConfig
	f.must(http.StatusOK, http.MethodGet, PathStream, aliceToken, nil, &list)
	if len(list) != 2 {
		t.Errorf("listed %d streams, want 2", len(list))
	}
	// Status.
	f.setStatus(cfg.StreamID, ssf.StreamPaused)
	if st := f.status(cfg.StreamID); st.Status != ssf.StreamPaused {
		t.Errorf("status %+v", st)
	}
	f.must(http.StatusBadRequest, http.MethodPost, PathStatus, aliceToken, ssf.StreamStatus{StreamID: cfg.StreamID, Status: "gone"}, nil)
	// Subjects.
	sub := &ssf.SubjectID{Format: ssf.FormatEmail, Email: "Ann@Example.com"}
	f.must(http.StatusOK, http.MethodPost, PathAdd, aliceToken, ssf.SubjectRequest{StreamID: cfg.StreamID, Subject: sub}, nil)
	f.must(http.StatusNoContent, http.MethodPost, PathRemove, aliceToken,
		ssf.SubjectRequest{StreamID: cfg.StreamID, Subject: &ssf.SubjectID{Format: ssf.FormatEmail, Email: "ann@example.com"}}, nil)
	f.must(http.StatusNotFound, http.MethodPost, PathRemove, aliceToken, ssf.SubjectRequest{StreamID: cfg.StreamID, Subject: sub}, nil)
	f.must(http.StatusBadRequest, http.MethodPost, PathAdd, aliceToken,
		ssf.SubjectRequest{StreamID: cfg.StreamID, Subject: &ssf.SubjectID{Format: ssf.FormatEmail}}, nil)
	// Delete.
	f.must(http.StatusNoContent, http.MethodDelete, PathStream+"?stream_id="+second.StreamID, aliceToken, nil, nil)
	f.must(http.StatusNotFound, http.MethodGet, PathStream+"?stream_id="+second.StreamID, aliceToken, nil, nil)
}

func TestVerificationByPoll(t *testing.T) {
	f := newFixture(t)
	cfg := f.createStream(aliceToken, "")
	f.must(http.StatusNoContent, http.MethodPost, PathVerify, aliceToken, ssf.VerificationRequest{StreamID: cfg.StreamID, State: "s-42"}, nil)
	r := f.newReceiver("alice")
	poller, err := ssf.NewPoller(ssf.PollConfig{URL: cfg.Delivery.EndpointURL, Client: f.srv.Client(), Token: aliceToken,
		Verifier: r.verifier, Sink: r, ReturnImmediately: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := poller.Poll(context.Background())
	if err != nil || res.Accepted != 1 {
		t.Fatalf("poll: %+v %v", res, err)
	}
	sets := r.received()
	body := sets[0].Events[ssf.EventVerification]
	if !strings.Contains(string(body), `"state":"s-42"`) || sets[0].Subject.ID != cfg.StreamID {
		t.Errorf("verification SET %s subject %+v", body, sets[0].Subject)
	}
	// The acknowledgement travels with the next poll and empties the outbox.
	if _, err := poller.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.status(cfg.StreamID); st.Pending != 0 {
		t.Errorf("pending %d after the ack", st.Pending)
	}
}

func TestReceiversSeeOnlyTheirStreams(t *testing.T) {
	f := newFixture(t)
	cfg := f.createStream(aliceToken, "")
	id := cfg.StreamID
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, PathStream + "?stream_id=" + id, nil},
		{http.MethodPatch, PathStream, map[string]any{"stream_id": id, "description": "mine"}},
		{http.MethodPut, PathStream, map[string]any{"stream_id": id}},
		{http.MethodDelete, PathStream + "?stream_id=" + id, nil},
		{http.MethodGet, PathStatus + "?stream_id=" + id, nil},
		{http.MethodPost, PathStatus, ssf.StreamStatus{StreamID: id, Status: ssf.StreamDisabled}},
		{http.MethodPost, PathAdd, ssf.SubjectRequest{StreamID: id, Subject: &ssf.SubjectID{Format: ssf.FormatEmail, Email: "a@b.c"}}},
		{http.MethodPost, PathVerify, ssf.VerificationRequest{StreamID: id}},
		{http.MethodPost, PathPollBase + id, map[string]any{"returnImmediately": true}},
		{http.MethodGet, PathStream + "?stream_id=0123456789abcdef0123456789abcdef", nil},
	} {
		code, body := f.do(c.method, c.path, bobToken, c.body)
		if code != http.StatusNotFound || !strings.Contains(string(body), `"err":"not_found"`) {
			t.Errorf("bob %s %s: %d %s, want 404", c.method, c.path, code, body)
		}
	}
	var list []ssf.StreamConfig
	f.must(http.StatusOK, http.MethodGet, PathStream, bobToken, nil, &list)
	if len(list) != 0 {
		t.Errorf("bob lists %d streams", len(list))
	}
	if st := f.status(id); st.Status != ssf.StreamEnabled {
		t.Errorf("alice's stream was changed: %+v", st)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	for _, token := range []string{"", "wrong", aliceToken + "x"} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+PathStream, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %d %q", token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	f.must(http.StatusOK, http.MethodGet, PathStream, bobToken, nil, nil) // the value is trimmed
}

func TestLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Limits.MaxStreams = 2; c.Limits.MaxSubjects = 1 })
	big := append([]byte(`{"description":"`), bytes.Repeat([]byte("a"), 70<<10)...)
	big = append(big, `"}`...)
	if code, body := f.do(http.MethodPost, PathStream, aliceToken, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d %s", code, body)
	}
	if code, _ := f.do(http.MethodPost, PathStream, aliceToken, []byte("{not json")); code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d", code)
	}
	cfg := f.createStream(aliceToken, "")
	f.createStream(aliceToken, "")
	if code, body := f.do(http.MethodPost, PathStream, aliceToken, map[string]any{}); code != http.StatusConflict {
		t.Errorf("third stream: %d %s", code, body)
	}
	f.createStream(bobToken, "") // per receiver
	add := func(email string) int {
		code, _ := f.do(http.MethodPost, PathAdd, aliceToken,
			ssf.SubjectRequest{StreamID: cfg.StreamID, Subject: &ssf.SubjectID{Format: ssf.FormatEmail, Email: email}})
		return code
	}
	if add("a@example.com") != http.StatusOK || add("b@example.com") != http.StatusBadRequest {
		t.Errorf("the subject limit was not applied")
	}
}

func TestPushEndpointRestrictions(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.HTTPClient.AllowPrivateEndpoints = false })
	for _, endpoint := range []string{"http://receiver.example.test/ssf", "https://169.254.169.254/latest", "https://[fe80::1]/x",
		"https://0.0.0.0/x", "https://127.0.0.1/x", "https://user:pw@receiver.example.test/"} {
		req := map[string]any{"delivery": ssf.StreamDelivery{Method: ssf.MethodPush, EndpointURL: endpoint}}
		if code, body := f.do(http.MethodPost, PathStream, aliceToken, req); code != http.StatusBadRequest {
			t.Errorf("endpoint %s: %d %s", endpoint, code, body)
		}
	}
	// A name that resolves to loopback passes the URL check and is refused
	// when dialled: nothing reaches the receiver.
	r := f.newPushReceiver("alice")
	endpoint := strings.Replace(r.srv.URL, "127.0.0.1", "localhost", 1)
	cfg := f.createStream(aliceToken, endpoint)
	f.startDeliverer()
	if err := f.tx.Load().Announce(context.Background(), Transition{ID: "t1", Email: "ann@example.com", Disabled: true, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal in the status", func() bool {
		return strings.Contains(f.status(cfg.StreamID).LastFailure, "not allowed")
	})
	if n := r.requests.Load(); n != 0 {
		t.Errorf("%d requests reached a loopback receiver", n)
	}
	// The push client refuses metadata, unspecified and (here) loopback
	// addresses whatever the URL check said.
	for _, u := range []string{"https://169.254.169.254/", "https://[::]:443/", "https://127.0.0.1:1/"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		resp, err := f.tx.Load().push.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	f := newFixture(t)
	for name, change := range map[string]func(*Config){
		"http issuer":    func(c *Config) { c.Issuer = "http://x.example" },
		"issuer query":   func(c *Config) { c.Issuer = "https://x.example/?a=b" },
		"no namespace":   func(c *Config) { c.Namespace = "" },
		"keys elsewhere": func(c *Config) { c.KeysSecret.Namespace = "other" },
		"no reader":      func(c *Config) { c.Reader = nil },
		"same secrets":   func(c *Config) { c.TokensSecret = c.KeysSecret },
	} {
		cfg := f.cfg
		change(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
