package ssfserver

import (
	"net/http"
	"slices"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

func TestConfiguration(t *testing.T) {
	s := newServer(t, Options{RequireSubjects: true})
	var doc map[string]any
	if code := callWith(t, s, "", http.MethodGet, PathConfiguration, nil, &doc); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := map[string]string{
		"spec_version": "1_0", "issuer": s.URL(), "jwks_uri": s.URL() + PathJWKS,
		"configuration_endpoint": s.URL() + PathStream, "status_endpoint": s.URL() + PathStatus,
		"add_subject_endpoint": s.URL() + PathAddSubject, "remove_subject_endpoint": s.URL() + PathRemoveSubject,
		"verification_endpoint": s.URL() + PathVerify, "default_subjects": "NONE",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %s", k, doc[k], v)
		}
	}
	methods, _ := doc["delivery_methods_supported"].([]any)
	if len(methods) != 2 || methods[0] != MethodPush || methods[1] != MethodPoll {
		t.Errorf("delivery_methods_supported = %v", methods)
	}
	schemes, _ := doc["authorization_schemes"].([]any)
	if len(schemes) != 1 || schemes[0].(map[string]any)["spec_urn"] != "urn:ietf:rfc:6750" {
		t.Errorf("authorization_schemes = %v", schemes)
	}
}

func TestStreamAuth(t *testing.T) {
	s := newServer(t, Options{})
	for _, auth := range []string{"", "Bearer wrong", s.Token()} {
		var e ErrorBody
		if code := callWith(t, s, auth, http.MethodGet, PathStream, nil, &e); code != http.StatusUnauthorized {
			t.Errorf("auth %q: status %d, want 401", auth, code)
		}
		if e.Err == "" {
			t.Errorf("auth %q: no error body", auth)
		}
	}
	if len(s.Streams()) != 0 || s.Requests(http.MethodGet, PathStream) != 3 {
		t.Errorf("streams %d, requests %d", len(s.Streams()), s.Requests(http.MethodGet, PathStream))
	}
}

func TestStreamCRUD(t *testing.T) {
	s := newServer(t, Options{})
	cfg := pollStream(t, s, ssf.EventSessionRevoked, "urn:example:unknown")
	if cfg.StreamID == "" || cfg.Issuer != s.Issuer() || cfg.Audience != s.Audience() {
		t.Fatalf("created %+v", cfg)
	}
	if !slices.Equal(cfg.EventsDelivered, []string{ssf.EventSessionRevoked}) {
		t.Errorf("events_delivered = %v", cfg.EventsDelivered)
	}
	if cfg.Delivery.EndpointURL != s.URL()+PathPoll+cfg.StreamID {
		t.Errorf("poll endpoint_url = %q", cfg.Delivery.EndpointURL)
	}
	var got StreamConfig
	if code := call(t, s, http.MethodGet, PathStream+"?stream_id="+cfg.StreamID, nil, &got); code != http.StatusOK || got.StreamID != cfg.StreamID {
		t.Fatalf("read: %d %+v", code, got)
	}
	var all []StreamConfig
	if code := call(t, s, http.MethodGet, PathStream, nil, &all); code != http.StatusOK || len(all) != 1 {
		t.Fatalf("list: %d %v", code, all)
	}
	if code := call(t, s, http.MethodDelete, PathStream+"?stream_id="+cfg.StreamID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if _, ok := s.Stream(cfg.StreamID); ok {
		t.Error("stream still there after delete")
	}
}

func TestStreamUpdate(t *testing.T) {
	s := newServer(t, Options{})
	cfg := pollStream(t, s, ssf.EventSessionRevoked)
	var got StreamConfig
	// PATCH changes only what it names.
	patch := map[string]any{"stream_id": cfg.StreamID, "description": "for tests"}
	if code := call(t, s, http.MethodPatch, PathStream, patch, &got); code != http.StatusOK {
		t.Fatalf("patch: %d", code)
	}
	if got.Description != "for tests" || !slices.Equal(got.EventsDelivered, []string{ssf.EventSessionRevoked}) {
		t.Errorf("after patch %+v", got)
	}
	// PUT replaces: what it leaves out is reset.
	put := map[string]any{"stream_id": cfg.StreamID, "delivery": map[string]any{"method": MethodPoll}}
	got = StreamConfig{}
	if code := call(t, s, http.MethodPut, PathStream, put, &got); code != http.StatusOK {
		t.Fatalf("put: %d", code)
	}
	if got.Description != "" || len(got.EventsDelivered) != 0 {
		t.Errorf("after put %+v", got)
	}
}

func TestStreamErrors(t *testing.T) {
	s := newServer(t, Options{})
	id := pollStream(t, s).StreamID
	tests := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"unknown method", http.MethodPost, PathStream, map[string]any{"delivery": map[string]any{"method": "urn:x"}}, 400},
		{"push without url", http.MethodPost, PathStream, map[string]any{"delivery": map[string]any{"method": MethodPush}}, 400},
		{"not an object", http.MethodPost, PathStream, []int{1}, 400},
		{"wrong type", http.MethodPost, PathStream, map[string]any{"events_requested": "x"}, 400},
		{"read unknown", http.MethodGet, PathStream + "?stream_id=nope", nil, 404},
		{"patch without id", http.MethodPatch, PathStream, map[string]any{}, 400},
		{"patch unknown", http.MethodPatch, PathStream, map[string]any{"stream_id": "nope"}, 404},
		{"put bad delivery", http.MethodPut, PathStream, map[string]any{"stream_id": id, "delivery": map[string]any{"method": ""}}, 400},
		{"delete unknown", http.MethodDelete, PathStream + "?stream_id=nope", nil, 404},
		{"delete without id", http.MethodDelete, PathStream, nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e ErrorBody
			if code := call(t, s, tc.method, tc.path, tc.body, &e); code != tc.want || e.Err == "" || e.Description == "" {
				t.Errorf("status %d body %+v, want %d with an error body", code, e, tc.want)
			}
		})
	}
	if len(s.Streams()) != 1 {
		t.Errorf("%d streams, want 1", len(s.Streams()))
	}
}

func TestSingleStreamConflict(t *testing.T) {
	s := newServer(t, Options{SingleStream: true})
	pollStream(t, s)
	var e ErrorBody
	if code := call(t, s, http.MethodPost, PathStream, map[string]any{}, &e); code != http.StatusConflict || e.Err != codeConflict {
		t.Errorf("second create: %d %+v, want 409", code, e)
	}
}

func TestStatus(t *testing.T) {
	s := newServer(t, Options{})
	id := pollStream(t, s).StreamID
	var st statusBody
	if code := call(t, s, http.MethodGet, PathStatus+"?stream_id="+id, nil, &st); code != http.StatusOK || st.Status != StatusEnabled {
		t.Fatalf("initial status: %d %+v", code, st)
	}
	body := map[string]any{"stream_id": id, "status": StatusPaused, "reason": "maintenance"}
	if code := call(t, s, http.MethodPost, PathStatus, body, &st); code != http.StatusOK || st.Status != StatusPaused {
		t.Fatalf("pause: %d %+v", code, st)
	}
	if got, _ := s.Stream(id); got.Status != StatusPaused || got.Reason != "maintenance" {
		t.Errorf("stream state %+v", got)
	}
	if code := call(t, s, http.MethodPost, PathStatus, map[string]any{"stream_id": id, "status": "off"}, nil); code != http.StatusBadRequest {
		t.Errorf("bad status: %d", code)
	}
	if code := call(t, s, http.MethodPost, PathStatus, map[string]any{"stream_id": "nope", "status": StatusEnabled}, nil); code != http.StatusNotFound {
		t.Errorf("unknown stream: %d", code)
	}
	if code := call(t, s, http.MethodGet, PathStatus, nil, nil); code != http.StatusBadRequest {
		t.Errorf("no stream_id: %d", code)
	}
}

func TestSubjects(t *testing.T) {
	s := newServer(t, Options{RequireSubjects: true})
	id := pollStream(t, s, ssf.EventSessionRevoked).StreamID
	if jti := s.Emit(id, ssf.EventSessionRevoked, alice, nil); jti != "" {
		t.Fatal("event for a subject not added was queued")
	}
	add := map[string]any{"stream_id": id, "subject": alice, "verified": false}
	if code := call(t, s, http.MethodPost, PathAddSubject, add, nil); code != http.StatusOK {
		t.Fatalf("add: %d", code)
	}
	if st, _ := s.Stream(id); len(st.Subjects) != 1 || st.Subjects[0].Verified || !sameSubject(st.Subjects[0].ID, alice) {
		t.Errorf("subjects %+v", st.Subjects)
	}
	if s.Emit(id, ssf.EventSessionRevoked, alice, nil) == "" || s.Emit(id, ssf.EventSessionRevoked, bob, nil) != "" {
		t.Error("events follow the subjects added")
	}
	if s.Emit(id, ssf.EventAccountPurged, alice, nil) != "" {
		t.Error("event type not in events_delivered was queued")
	}
	bad := map[string]any{"stream_id": id, "subject": map[string]any{"format": "email"}}
	if code := call(t, s, http.MethodPost, PathAddSubject, bad, nil); code != http.StatusBadRequest {
		t.Errorf("invalid subject: %d", code)
	}
	remove := map[string]any{"stream_id": id, "subject": alice}
	if code := call(t, s, http.MethodPost, PathRemoveSubject, remove, nil); code != http.StatusNoContent {
		t.Fatalf("remove: %d", code)
	}
	if code := call(t, s, http.MethodPost, PathRemoveSubject, remove, nil); code != http.StatusNotFound {
		t.Errorf("remove again: %d", code)
	}
	if s.Emit(id, ssf.EventSessionRevoked, alice, nil) != "" {
		t.Error("event for a removed subject was queued")
	}
}

func TestSetDown(t *testing.T) {
	s := newServer(t, Options{})
	s.SetDown(true)
	if code := callWith(t, s, "", http.MethodGet, PathConfiguration, nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("down: %d", code)
	}
	s.SetDown(false)
	if code := callWith(t, s, "", http.MethodGet, PathJWKS, nil, nil); code != http.StatusOK {
		t.Errorf("up: %d", code)
	}
	if n := s.Requests(http.MethodGet, PathConfiguration); n != 1 {
		t.Errorf("requests = %d", n)
	}
}
