package ssftx

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// supportedEvents are the events_supported of every stream. The
// verification event is delivered whatever a stream requested.
var supportedEvents = []string{ssf.EventSessionRevoked, ssf.EventAccountDisabled, ssf.EventAccountEnabled}

// maxDescription bounds a stream's description.
const maxDescription = 1024

// streamRequest is a create, update or replace request. Pointers tell an
// absent member from an empty one; transmitter-supplied members are ignored.
type streamRequest struct {
	StreamID        string              `json:"stream_id"`
	EventsRequested *[]string           `json:"events_requested"`
	Delivery        *ssf.StreamDelivery `json:"delivery"`
	Description     *string             `json:"description"`
}

// statusResponse is the SSF status object with what delivery observed.
type statusResponse struct {
	ssf.StreamStatus
	Pending       int    `json:"pending"`
	Refused       int    `json:"refused,omitempty"`
	LastErrorCode string `json:"last_error_code,omitempty"`
	LastFailure   string `json:"last_failure,omitempty"`
	OutboxFull    bool   `json:"outbox_full,omitempty"`
}

// apply sets req's receiver-supplied members on cfg; replace resets absent
// ones. It returns what is wrong with req, or "".
func (t *Transmitter) apply(cfg *ssf.StreamConfig, req *streamRequest, replace bool) string {
	if req.Delivery != nil || replace {
		d := ssf.StreamDelivery{Method: ssf.MethodPoll}
		if req.Delivery != nil {
			d = *req.Delivery
		}
		if msg := t.checkDelivery(&d, cfg.StreamID); msg != "" {
			return msg
		}
		cfg.Delivery = d
	}
	if req.EventsRequested != nil || replace {
		if msg := applyEvents(cfg, req.EventsRequested); msg != "" {
			return msg
		}
	}
	if req.Description != nil || replace {
		cfg.Description = ""
		if req.Description != nil {
			cfg.Description = *req.Description
		}
		if len(cfg.Description) > maxDescription {
			return fmt.Sprintf("description is longer than %d bytes", maxDescription)
		}
	}
	return ""
}

// applyEvents sets events_requested (none when nil) and events_delivered.
func applyEvents(cfg *ssf.StreamConfig, requested *[]string) string {
	cfg.EventsRequested, cfg.EventsDelivered = []string{}, []string{}
	if requested == nil {
		return ""
	}
	if len(*requested) > 32 {
		return "events_requested has more than 32 members"
	}
	cfg.EventsRequested = slices.Clone(*requested)
	for _, e := range cfg.EventsRequested {
		if slices.Contains(supportedEvents, e) && !slices.Contains(cfg.EventsDelivered, e) {
			cfg.EventsDelivered = append(cfg.EventsDelivered, e)
		}
	}
	return ""
}

// checkDelivery checks a requested delivery and fills in the poll URL.
func (t *Transmitter) checkDelivery(d *ssf.StreamDelivery, streamID string) string {
	switch d.Method {
	case ssf.MethodPoll:
		*d = ssf.StreamDelivery{Method: ssf.MethodPoll, EndpointURL: t.origin + PathPollBase + streamID}
	case ssf.MethodPush:
		if err := checkEndpointURL(d.EndpointURL, t.cfg.HTTPClient.AllowPrivateEndpoints); err != nil {
			return err.Error()
		}
		if len(d.AuthorizationHeader) > 4096 || strings.ContainsAny(d.AuthorizationHeader, "\r\n") {
			return "delivery.authorization_header must be one line of at most 4096 characters"
		}
	default:
		return "delivery.method must be " + ssf.MethodPush + " or " + ssf.MethodPoll
	}
	return ""
}

// public is cfg as answered: without the authorization_header, a secret
// the receiver already has.
func public(cfg ssf.StreamConfig) ssf.StreamConfig {
	cfg.Delivery.AuthorizationHeader = ""
	return cfg
}

func (t *Transmitter) createStream(w http.ResponseWriter, r *http.Request, receiver string) {
	var req streamRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	mine, _, err := t.store.list(r.Context(), receiver)
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	if len(mine) >= t.cfg.Limits.MaxStreams {
		writeError(w, http.StatusConflict, codeLimit, fmt.Sprintf("a receiver may have at most %d streams; delete one first", t.cfg.Limits.MaxStreams))
		return
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	cfg := ssf.StreamConfig{StreamID: hex.EncodeToString(id[:]), Issuer: t.cfg.Issuer, Audience: ssf.Audience{receiver},
		EventsSupported: supportedEvents}
	if msg := t.apply(&cfg, &req, true); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	st := &stream{Receiver: receiver, Config: cfg, Status: streamState{Status: ssf.StreamEnabled}}
	if err := t.store.create(r.Context(), st); err != nil {
		storeError(r.Context(), w, err)
		return
	}
	writeJSON(w, http.StatusCreated, public(st.Config))
}

func (t *Transmitter) readStream(w http.ResponseWriter, r *http.Request, receiver string) {
	if id := r.URL.Query().Get("stream_id"); id != "" {
		st, err := t.store.get(r.Context(), receiver, id)
		if err != nil {
			storeError(r.Context(), w, err)
			return
		}
		writeJSON(w, http.StatusOK, public(st.Config))
		return
	}
	mine, _, err := t.store.list(r.Context(), receiver)
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	out := make([]ssf.StreamConfig, 0, len(mine))
	for _, st := range mine {
		out = append(out, public(st.Config))
	}
	slices.SortFunc(out, func(a, b ssf.StreamConfig) int { return strings.Compare(a.StreamID, b.StreamID) })
	writeJSON(w, http.StatusOK, out)
}

func (t *Transmitter) updateStream(w http.ResponseWriter, r *http.Request, receiver string) {
	t.changeStream(w, r, receiver, false)
}

func (t *Transmitter) replaceStream(w http.ResponseWriter, r *http.Request, receiver string) {
	t.changeStream(w, r, receiver, true)
}

func (t *Transmitter) changeStream(w http.ResponseWriter, r *http.Request, receiver string, replace bool) {
	var req streamRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	var msg string
	st, err := t.store.update(r.Context(), receiver, req.StreamID, func(st *stream) (bool, error) {
		msg = t.apply(&st.Config, &req, replace)
		return msg == "", nil
	})
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	writeJSON(w, http.StatusOK, public(st.Config))
}

func (t *Transmitter) deleteStream(w http.ResponseWriter, r *http.Request, receiver string) {
	st, err := t.store.get(r.Context(), receiver, r.URL.Query().Get("stream_id"))
	if err == nil {
		err = t.store.delete(r.Context(), st)
	}
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	t.cfg.Metrics.forget(st.Config.StreamID)
	w.WriteHeader(http.StatusNoContent)
}

func statusOf(st *stream) statusResponse {
	return statusResponse{
		StreamStatus: ssf.StreamStatus{StreamID: st.Config.StreamID, Status: st.Status.Status, Reason: st.Status.Reason},
		Pending:      len(st.Outbox), Refused: st.Status.Refused, LastErrorCode: st.Status.LastErrorCode,
		LastFailure: st.Status.LastFailure, OutboxFull: st.Status.OutboxFull,
	}
}

func (t *Transmitter) readStatus(w http.ResponseWriter, r *http.Request, receiver string) {
	st, err := t.store.get(r.Context(), receiver, r.URL.Query().Get("stream_id"))
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	writeJSON(w, http.StatusOK, statusOf(st))
}

func (t *Transmitter) updateStatus(w http.ResponseWriter, r *http.Request, receiver string) {
	var req ssf.StreamStatus
	if !decodeJSON(w, r, &req) {
		return
	}
	if !slices.Contains([]string{ssf.StreamEnabled, ssf.StreamPaused, ssf.StreamDisabled}, req.Status) || len(req.Reason) > maxDescription {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "status must be enabled, paused or disabled, and reason at most 1024 bytes")
		return
	}
	st, err := t.store.update(r.Context(), receiver, req.StreamID, func(st *stream) (bool, error) {
		st.Status.Status, st.Status.Reason = req.Status, req.Reason
		if req.Status == ssf.StreamDisabled {
			st.Outbox, st.Status.OutboxFull = nil, false // a disabled stream holds nothing (SSF 1.0 §8.1.2)
		}
		return true, nil
	})
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	t.cfg.Metrics.setPending(st.Config.StreamID, len(st.Outbox))
	t.signal()
	writeJSON(w, http.StatusOK, statusOf(st))
}
