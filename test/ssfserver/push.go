package ssfserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// maxErrorBytes bounds a push error response body read by the transmitter.
const maxErrorBytes = 4 << 10

// Emit signs a SET carrying one event of eventType about subject (its
// sub_id) with body as the event's members, and queues it on the stream.
// It returns the SET's jti, or "" when the stream does not take the event:
// the stream is unknown or disabled, eventType is not in events_delivered,
// Options.RequireSubjects is set and subject was not added, or the SET
// cannot be signed (an invalid subject).
func (s *Server) Emit(streamID, eventType string, subject ssf.SubjectID, body map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[streamID]
	if !ok || !slices.Contains(st.cfg.EventsDelivered, eventType) {
		return ""
	}
	if s.opts.RequireSubjects && !slices.ContainsFunc(st.subjects, func(x Subject) bool { return sameSubject(x.ID, subject) }) {
		return ""
	}
	jti, err := s.enqueueLocked(st, eventType, &subject, body)
	if err != nil {
		return ""
	}
	return jti
}

// enqueueLocked signs and queues a SET unless the stream is disabled.
func (s *Server) enqueueLocked(st *stream, eventType string, subject *ssf.SubjectID, body map[string]any) (string, error) {
	if st.status == StatusDisabled {
		return "", nil
	}
	jti, token, err := s.signLocked(st, eventType, subject, body)
	if err != nil {
		return "", err
	}
	st.pending = append(st.pending, queued{jti: jti, token: token})
	st.signalLocked()
	return jti, nil
}

// outcome is the result of delivering one SET by push.
type outcome int

const (
	outcomeDelivered outcome = iota // 202 Accepted
	outcomeRejected                 // 400 with an RFC 8935 error body
	outcomeRetry                    // anything else: try again
	outcomeFailed                   // attempts exhausted
	outcomeHeld                     // no longer deliverable now: leave it queued
)

// pushLoop delivers a push stream's SETs in order until the stream is
// deleted or the server closed. It idles while the stream is not enabled
// or not a push stream.
func (s *Server) pushLoop(st *stream) {
	for {
		item, d, ok := s.nextPush(st)
		if !ok {
			select {
			case <-st.wake:
				continue
			case <-st.stop:
				return
			case <-s.done:
				return
			}
		}
		res, code := s.deliver(st, item, d)
		s.settle(st, item.jti, res, code)
	}
}

// nextPush is the SET at the head of the queue, if it may be pushed now.
func (s *Server) nextPush(st *stream) (queued, Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pushableLocked(st) || len(st.pending) == 0 {
		return queued{}, Delivery{}, false
	}
	return st.pending[0], st.cfg.Delivery, true
}

func (s *Server) pushableLocked(st *stream) bool {
	return !st.deleted && !s.closed && st.status == StatusEnabled && st.cfg.Delivery.Method == MethodPush
}

// deliver pushes one SET, retrying with exponential backoff up to
// Options.MaxAttempts attempts.
func (s *Server) deliver(st *stream, item queued, d Delivery) (outcome, string) {
	backoff := s.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		res, code := s.pushOnce(st, item, d)
		if res != outcomeRetry {
			return res, code
		}
		if attempt >= s.opts.MaxAttempts {
			return outcomeFailed, ""
		}
		select {
		case <-s.opts.Clock.After(backoff):
		case <-st.stop:
			return outcomeHeld, ""
		case <-s.done:
			return outcomeHeld, ""
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
		if !s.stillHead(st, item.jti) {
			return outcomeHeld, ""
		}
	}
}

// stillHead reports whether jti may still be pushed: the stream is enabled
// for push and jti is at the head of its queue.
func (s *Server) stillHead(st *stream, jti string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushableLocked(st) && len(st.pending) > 0 && st.pending[0].jti == jti
}

// pushOnce makes one RFC 8935 push request.
func (s *Server) pushOnce(st *stream, item queued, d Delivery) (outcome, string) {
	s.mu.Lock()
	st.attempts[item.jti]++
	s.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, d.EndpointURL, bytes.NewReader(item.token))
	if err != nil {
		return outcomeRetry, ""
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if d.AuthorizationHeader != "" {
		req.Header.Set("Authorization", d.AuthorizationHeader)
	}
	resp, err := s.opts.PushClient.Do(req)
	if err != nil {
		return outcomeRetry, ""
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	switch resp.StatusCode {
	case http.StatusAccepted:
		return outcomeDelivered, ""
	case http.StatusBadRequest:
		var e ssf.Error
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			return outcomeRejected, e.Code
		}
	}
	return outcomeRetry, ""
}

// settle records the outcome of jti's delivery and takes it off the queue,
// unless it was held or is no longer at the head (the stream was disabled).
func (s *Server) settle(st *stream, jti string, res outcome, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res == outcomeHeld || len(st.pending) == 0 || st.pending[0].jti != jti {
		return
	}
	st.pending = st.pending[1:]
	switch res {
	case outcomeDelivered:
		st.delivered = append(st.delivered, jti)
	case outcomeRejected:
		st.rejected[jti] = code
	default:
		st.failed = append(st.failed, jti)
	}
	st.signalLocked()
}
