package ssfserver

import (
	"net/http"
	"slices"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// pollRequest is an RFC 8936 §2.4 poll request.
type pollRequest struct {
	Ack               []string             `json:"ack"`
	SetErrs           map[string]ssf.Error `json:"setErrs"`
	MaxEvents         *int                 `json:"maxEvents"`
	ReturnImmediately bool                 `json:"returnImmediately"`
}

// PollResponse is an RFC 8936 §2.5 poll response.
type PollResponse struct {
	// Sets is "sets": jti to SET in compact serialization.
	Sets map[string]string `json:"sets"`
	// MoreAvailable is "moreAvailable": more SETs wait than were returned.
	MoreAvailable bool `json:"moreAvailable"`
}

// poll serves POST /poll/{stream_id}: it takes acknowledgements and errors
// off the queue, then returns up to maxEvents queued SETs, oldest first,
// including ones returned before and not yet acknowledged. With no SET
// queued and returnImmediately false it waits up to Options.LongPollTimeout.
func (s *Server) poll(w http.ResponseWriter, r *http.Request) {
	var req pollRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.MaxEvents != nil && *req.MaxEvents < 0 {
		badRequest(w, "maxEvents must not be negative")
		return
	}
	limit := s.opts.MaxPollEvents
	if req.MaxEvents != nil {
		limit = min(limit, *req.MaxEvents)
	}
	st, ok := s.acknowledge(w, r.PathValue("stream_id"), &req)
	if !ok {
		return
	}
	deadline := s.opts.Clock.After(s.opts.LongPollTimeout)
	for {
		resp, changed := s.collect(st, limit)
		if len(resp.Sets) > 0 || req.ReturnImmediately || limit == 0 {
			writeJSON(w, http.StatusOK, resp)
			return
		}
		select {
		case <-changed:
			continue
		case <-r.Context().Done():
			return
		case <-deadline:
		case <-st.stop:
		case <-s.done:
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
}

// acknowledge finds the poll stream and applies the request's ack and
// setErrs. It answers 404 or 400 and returns false when it cannot.
func (s *Server) acknowledge(w http.ResponseWriter, id string, req *pollRequest) (*stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.lookupLocked(w, id)
	if !ok {
		return nil, false
	}
	if st.cfg.Delivery.Method != MethodPoll {
		badRequest(w, "the stream does not use poll delivery")
		return nil, false
	}
	for _, jti := range req.Ack {
		if st.removeLocked(jti) {
			st.delivered = append(st.delivered, jti)
		}
	}
	for jti, e := range req.SetErrs {
		if st.removeLocked(jti) {
			st.rejected[jti] = e.Code
		}
	}
	return st, true
}

// removeLocked takes jti off the queue and reports whether it was there.
func (st *stream) removeLocked(jti string) bool {
	i := slices.IndexFunc(st.pending, func(q queued) bool { return q.jti == jti })
	if i < 0 {
		return false
	}
	st.pending = slices.Delete(st.pending, i, i+1)
	return true
}

// collect is the poll response for st now, and the channel that is closed
// when it may change.
func (s *Server) collect(st *stream, limit int) (PollResponse, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := PollResponse{Sets: map[string]string{}}
	if st.status != StatusEnabled || st.deleted {
		return resp, st.changed
	}
	for _, q := range st.pending[:min(limit, len(st.pending))] {
		resp.Sets[q.jti] = string(q.token)
	}
	resp.MoreAvailable = len(st.pending) > limit
	return resp, st.changed
}
