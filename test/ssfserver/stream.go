package ssfserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// StreamConfig is a stream configuration as SSF 1.0 §8.1.1 defines it on
// the wire.
type StreamConfig struct {
	// StreamID is "stream_id", transmitter-supplied.
	StreamID string `json:"stream_id"`
	// Issuer is "iss", transmitter-supplied.
	Issuer string `json:"iss"`
	// Audience is "aud", transmitter-supplied.
	Audience string `json:"aud"`
	// EventsSupported is "events_supported", transmitter-supplied.
	EventsSupported []string `json:"events_supported"`
	// EventsRequested is "events_requested", receiver-supplied.
	EventsRequested []string `json:"events_requested"`
	// EventsDelivered is "events_delivered": requested ∩ supported.
	EventsDelivered []string `json:"events_delivered"`
	// Delivery is "delivery".
	Delivery Delivery `json:"delivery"`
	// Description is "description", receiver-supplied.
	Description string `json:"description,omitempty"`
}

// Delivery is the "delivery" member of a stream configuration.
type Delivery struct {
	// Method is "method": MethodPush or MethodPoll.
	Method string `json:"method"`
	// EndpointURL is "endpoint_url": the receiver's URL for push,
	// the transmitter's poll URL for poll.
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is "authorization_header": sent verbatim as the
	// Authorization header of push requests.
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// streamRequest is a create, update or replace request. Pointers tell an
// absent member from an empty one; transmitter-supplied members are ignored.
type streamRequest struct {
	StreamID        *string   `json:"stream_id"`
	EventsRequested *[]string `json:"events_requested"`
	Delivery        *Delivery `json:"delivery"`
	Description     *string   `json:"description"`
}

// queued is a signed SET waiting for delivery.
type queued struct {
	jti   string
	token []byte
}

// stream is the transmitter's state of one stream. Guarded by Server.mu,
// except the channels, which are safe to use concurrently.
type stream struct {
	cfg       StreamConfig
	status    string
	reason    string
	subjects  []Subject
	pending   []queued
	delivered []string
	rejected  map[string]string
	failed    []string
	attempts  map[string]int
	deleted   bool
	wake      chan struct{} // buffered 1: wakes the push worker
	changed   chan struct{} // closed and replaced when pending or status changes
	stop      chan struct{} // closed when the stream is deleted
}

// signalLocked tells the push worker and waiting polls that something changed.
func (st *stream) signalLocked() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
	close(st.changed)
	st.changed = make(chan struct{})
}

// applyLocked sets the receiver-supplied members of req on st. With
// replace, absent members are reset. It returns a description of what is
// wrong with req, or "".
func (s *Server) applyLocked(st *stream, req *streamRequest, replace bool) string {
	cfg := st.cfg
	if req.Delivery != nil || replace {
		d := Delivery{Method: MethodPoll}
		if req.Delivery != nil {
			d = *req.Delivery
		}
		if msg := s.checkDelivery(&d, cfg.StreamID); msg != "" {
			return msg
		}
		cfg.Delivery = d
	}
	if req.EventsRequested != nil || replace {
		cfg.EventsRequested = []string{}
		if req.EventsRequested != nil {
			cfg.EventsRequested = slices.Clone(*req.EventsRequested)
		}
		cfg.EventsDelivered = []string{}
		for _, e := range cfg.EventsRequested {
			if slices.Contains(cfg.EventsSupported, e) && !slices.Contains(cfg.EventsDelivered, e) {
				cfg.EventsDelivered = append(cfg.EventsDelivered, e)
			}
		}
	}
	if req.Description != nil || replace {
		cfg.Description = ""
		if req.Description != nil {
			cfg.Description = *req.Description
		}
	}
	st.cfg = cfg
	st.signalLocked() // a changed delivery may let the push worker go on
	return ""
}

// checkDelivery validates d and fills in the poll endpoint URL.
func (s *Server) checkDelivery(d *Delivery, streamID string) string {
	switch d.Method {
	case MethodPush:
		u, err := url.Parse(d.EndpointURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "delivery.endpoint_url must be an absolute http(s) URL for push delivery"
		}
	case MethodPoll:
		d.EndpointURL = s.Issuer() + PathPoll + streamID
		d.AuthorizationHeader = ""
	default:
		return "delivery.method is not supported: use " + MethodPush + " or " + MethodPoll
	}
	return ""
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request) {
	var req streamRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.SingleStream && len(s.streams) > 0 {
		writeError(w, http.StatusConflict, codeConflict, "this receiver already has a stream")
		return
	}
	st := &stream{
		cfg: StreamConfig{
			StreamID: randomHex(12), Issuer: s.Issuer(), Audience: s.opts.Audience,
			EventsSupported: slices.Clone(s.opts.EventsSupported),
		},
		status:   StatusEnabled,
		rejected: map[string]string{},
		attempts: map[string]int{},
		wake:     make(chan struct{}, 1),
		changed:  make(chan struct{}),
		stop:     make(chan struct{}),
	}
	if msg := s.applyLocked(st, &req, true); msg != "" {
		badRequest(w, msg)
		return
	}
	s.streams[st.cfg.StreamID] = st
	s.order = append(s.order, st.cfg.StreamID)
	if !s.closed {
		s.wg.Go(func() { s.pushLoop(st) })
	}
	writeJSON(w, http.StatusCreated, st.cfg)
}

func (s *Server) readStream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.URL.Query().Get("stream_id")
	if id == "" {
		all := make([]StreamConfig, 0, len(s.order))
		for _, sid := range s.order {
			all = append(all, s.streams[sid].cfg)
		}
		writeJSON(w, http.StatusOK, all)
		return
	}
	st, ok := s.streams[id]
	if !ok {
		unknownStream(w, id)
		return
	}
	writeJSON(w, http.StatusOK, st.cfg)
}

func (s *Server) updateStream(w http.ResponseWriter, r *http.Request) { s.changeStream(w, r, false) }

func (s *Server) replaceStream(w http.ResponseWriter, r *http.Request) { s.changeStream(w, r, true) }

func (s *Server) changeStream(w http.ResponseWriter, r *http.Request, replace bool) {
	var req streamRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.StreamID == nil || *req.StreamID == "" {
		badRequest(w, "stream_id is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[*req.StreamID]
	if !ok {
		unknownStream(w, *req.StreamID)
		return
	}
	if msg := s.applyLocked(st, &req, replace); msg != "" {
		badRequest(w, msg)
		return
	}
	writeJSON(w, http.StatusOK, st.cfg)
}

func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("stream_id")
	if id == "" {
		badRequest(w, "stream_id is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[id]
	if !ok {
		unknownStream(w, id)
		return
	}
	st.deleted = true
	close(st.stop)
	delete(s.streams, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	w.WriteHeader(http.StatusNoContent)
}

// serveConfiguration serves the transmitter configuration metadata (SSF 1.0 §7.1).
func (s *Server) serveConfiguration(w http.ResponseWriter, _ *http.Request) {
	base := s.Issuer()
	defaultSubjects := "ALL"
	if s.opts.RequireSubjects {
		defaultSubjects = "NONE"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"spec_version":               "1_0",
		"issuer":                     base,
		"jwks_uri":                   base + PathJWKS,
		"delivery_methods_supported": []string{MethodPush, MethodPoll},
		"configuration_endpoint":     base + PathStream,
		"status_endpoint":            base + PathStatus,
		"add_subject_endpoint":       base + PathAddSubject,
		"remove_subject_endpoint":    base + PathRemoveSubject,
		"verification_endpoint":      base + PathVerify,
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6750"}},
		"default_subjects":           defaultSubjects,
	})
}

// sameSubject compares two subject identifiers member by member.
func sameSubject(a, b ssf.SubjectID) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
