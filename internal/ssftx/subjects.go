package ssftx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// errTooManySubjects: the stream holds Limits.MaxSubjects subjects.
var errTooManySubjects = errors.New("too many subjects")

// errSubjectMissing: the subject to remove is not in the stream.
var errSubjectMissing = errors.New("subject not in the stream")

// sameSubject compares subjects by their JSON form, e-mail addresses
// case-insensitively.
func sameSubject(a, b ssf.SubjectID) bool {
	if a.Format == ssf.FormatEmail && b.Format == ssf.FormatEmail {
		return strings.EqualFold(a.Email, b.Email)
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// readSubject decodes and checks a subject request, answering 400 or 413.
func readSubject(w http.ResponseWriter, r *http.Request) (*ssf.SubjectRequest, bool) {
	var req ssf.SubjectRequest
	if !decodeJSON(w, r, &req) {
		return nil, false
	}
	if req.Subject == nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "subject is required")
		return nil, false
	}
	if err := req.Subject.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "subject: "+err.Error())
		return nil, false
	}
	return &req, true
}

func (t *Transmitter) addSubject(w http.ResponseWriter, r *http.Request, receiver string) {
	req, ok := readSubject(w, r)
	if !ok {
		return
	}
	_, err := t.store.update(r.Context(), receiver, req.StreamID, func(st *stream) (bool, error) {
		if slices.ContainsFunc(st.Subjects, func(s ssf.SubjectID) bool { return sameSubject(s, *req.Subject) }) {
			return false, nil
		}
		if len(st.Subjects) >= t.cfg.Limits.MaxSubjects {
			return false, errTooManySubjects
		}
		st.Subjects = append(st.Subjects, *req.Subject)
		return true, nil
	})
	switch {
	case errors.Is(err, errTooManySubjects):
		writeError(w, http.StatusBadRequest, codeLimit, fmt.Sprintf("a stream holds at most %d subjects", t.cfg.Limits.MaxSubjects))
	case err != nil:
		storeError(r.Context(), w, err)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (t *Transmitter) removeSubject(w http.ResponseWriter, r *http.Request, receiver string) {
	req, ok := readSubject(w, r)
	if !ok {
		return
	}
	_, err := t.store.update(r.Context(), receiver, req.StreamID, func(st *stream) (bool, error) {
		i := slices.IndexFunc(st.Subjects, func(s ssf.SubjectID) bool { return sameSubject(s, *req.Subject) })
		if i < 0 {
			return false, errSubjectMissing
		}
		st.Subjects = slices.Delete(st.Subjects, i, i+1)
		return true, nil
	})
	switch {
	case errors.Is(err, errSubjectMissing):
		writeError(w, http.StatusNotFound, codeNotFound, "the subject is not in the stream")
	case err != nil:
		storeError(r.Context(), w, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// verify queues a verification event (SSF 1.0 §8.1.4) whose subject is the
// stream (opaque, id = stream_id), in place of any still pending, and
// answers 204.
func (t *Transmitter) verify(w http.ResponseWriter, r *http.Request, receiver string) {
	var req ssf.VerificationRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if len(req.State) > maxDescription {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "state is longer than 1024 bytes")
		return
	}
	var id [16]byte
	randomRead(id[:])
	e, err := newEntry(fmt.Sprintf("verify/%x", id), req.StreamID, ssf.EventVerification,
		ssf.SubjectID{Format: ssf.FormatOpaque, ID: req.StreamID}, ssf.Verification{State: req.State}, t.cfg.Clock.Now())
	if err != nil {
		storeError(r.Context(), w, err)
		return
	}
	st, err := t.store.update(r.Context(), receiver, req.StreamID, func(st *stream) (bool, error) {
		// A new request supersedes the verification events still pending,
		// so that asking again and again cannot fill the outbox (and make
		// Announce fail for the stream).
		st.Outbox = slices.DeleteFunc(st.Outbox, func(o entry) bool { return o.Type == ssf.EventVerification })
		return t.appendEntries(st, []entry{e})
	})
	switch {
	case errors.Is(err, ErrOutboxFull):
		writeError(w, http.StatusConflict, codeLimit, "the stream's outbox is full; take the pending events first")
	case errors.Is(err, errStreamDisabled):
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "the stream is disabled")
	case err != nil:
		storeError(r.Context(), w, err)
	default:
		t.cfg.Metrics.setPending(st.Config.StreamID, len(st.Outbox))
		t.signal()
		w.WriteHeader(http.StatusNoContent)
	}
}
