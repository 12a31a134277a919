package ssfserver

import (
	"net/http"
	"slices"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// Subject is a subject added to a stream (SSF 1.0 §8.1.3.2).
type Subject struct {
	// ID is the subject identifier (RFC 9493).
	ID ssf.SubjectID
	// Verified is the request's "verified" member; true when absent.
	Verified bool
}

// statusBody is the stream status object (SSF 1.0 §8.1.2).
type statusBody struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// subjectRequest is an add_subject or remove_subject request.
type subjectRequest struct {
	StreamID string         `json:"stream_id"`
	Subject  *ssf.SubjectID `json:"subject"`
	Verified *bool          `json:"verified"`
}

// verifyRequest is a verification request (SSF 1.0 §8.1.4.2).
type verifyRequest struct {
	StreamID string `json:"stream_id"`
	State    string `json:"state"`
}

// lookupLocked finds the stream id names or answers 400 or 404.
func (s *Server) lookupLocked(w http.ResponseWriter, id string) (*stream, bool) {
	if id == "" {
		badRequest(w, "stream_id is required")
		return nil, false
	}
	st, ok := s.streams[id]
	if !ok {
		unknownStream(w, id)
	}
	return st, ok
}

func (s *Server) readStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.lookupLocked(w, r.URL.Query().Get("stream_id"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, statusBody{StreamID: st.cfg.StreamID, Status: st.status, Reason: st.reason})
}

func (s *Server) updateStatus(w http.ResponseWriter, r *http.Request) {
	var req statusBody
	if !decodeJSON(w, r, &req) {
		return
	}
	if !slices.Contains([]string{StatusEnabled, StatusPaused, StatusDisabled}, req.Status) {
		badRequest(w, "status must be enabled, paused or disabled")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.lookupLocked(w, req.StreamID)
	if !ok {
		return
	}
	st.status, st.reason = req.Status, req.Reason
	if req.Status == StatusDisabled {
		st.pending = nil // a disabled stream holds nothing (SSF 1.0 §8.1.2.1)
	}
	st.signalLocked()
	writeJSON(w, http.StatusOK, statusBody{StreamID: st.cfg.StreamID, Status: st.status, Reason: st.reason})
}

// subjectLocked decodes and checks a subject request, answering 400 or 404.
func (s *Server) subjectLocked(w http.ResponseWriter, req *subjectRequest) (*stream, bool) {
	if req.Subject == nil {
		badRequest(w, "subject is required")
		return nil, false
	}
	if err := req.Subject.Validate(); err != nil {
		badRequest(w, "subject: "+err.Error())
		return nil, false
	}
	return s.lookupLocked(w, req.StreamID)
}

func (s *Server) addSubject(w http.ResponseWriter, r *http.Request) {
	var req subjectRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.subjectLocked(w, &req)
	if !ok {
		return
	}
	verified := req.Verified == nil || *req.Verified
	i := slices.IndexFunc(st.subjects, func(x Subject) bool { return sameSubject(x.ID, *req.Subject) })
	if i >= 0 {
		st.subjects[i].Verified = verified
	} else {
		st.subjects = append(st.subjects, Subject{ID: *req.Subject, Verified: verified})
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) removeSubject(w http.ResponseWriter, r *http.Request) {
	var req subjectRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.subjectLocked(w, &req)
	if !ok {
		return
	}
	i := slices.IndexFunc(st.subjects, func(x Subject) bool { return sameSubject(x.ID, *req.Subject) })
	if i < 0 {
		writeError(w, http.StatusNotFound, codeNotFound, "subject is not in the stream")
		return
	}
	st.subjects = slices.Delete(st.subjects, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// verify queues a verification SET (SSF 1.0 §8.1.4) whose subject is the
// stream (opaque format, id = stream_id) and answers 204.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	var req verifyRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.lookupLocked(w, req.StreamID)
	if !ok {
		return
	}
	body := map[string]any{}
	if req.State != "" {
		body["state"] = req.State
	}
	sub := &ssf.SubjectID{Format: ssf.FormatOpaque, ID: st.cfg.StreamID}
	if _, err := s.enqueueLocked(st, ssf.EventVerification, sub, body); err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "cannot sign the verification event")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
