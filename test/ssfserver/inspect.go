package ssfserver

import (
	"maps"
	"slices"
)

// Stream is a stream's state as a test sees it.
type Stream struct {
	// Config is the configuration the management API returns.
	Config StreamConfig
	// Status is StatusEnabled, StatusPaused or StatusDisabled.
	Status string
	// Reason is the reason given with the last status change.
	Reason string
	// Subjects are the subjects added, in the order they were added.
	Subjects []Subject
}

// Streams are the streams, in creation order.
func (s *Server) Streams() []Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Stream, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.streams[id].snapshotLocked())
	}
	return out
}

// Stream is the stream id, if it exists.
func (s *Server) Stream(id string) (Stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[id]
	if !ok {
		return Stream{}, false
	}
	return st.snapshotLocked(), true
}

func (st *stream) snapshotLocked() Stream {
	cfg := st.cfg
	cfg.EventsSupported = slices.Clone(cfg.EventsSupported)
	cfg.EventsRequested = slices.Clone(cfg.EventsRequested)
	cfg.EventsDelivered = slices.Clone(cfg.EventsDelivered)
	return Stream{Config: cfg, Status: st.status, Reason: st.reason, Subjects: slices.Clone(st.subjects)}
}

// Delivered are the jtis delivered on the stream, in order: accepted with
// 202 (push) or acknowledged (poll).
func (s *Server) Delivered(streamID string) []string {
	return s.list(streamID, func(st *stream) []string { return st.delivered })
}

// Pending are the jtis queued on the stream and not yet delivered,
// rejected or given up, oldest first.
func (s *Server) Pending(streamID string) []string {
	return s.list(streamID, func(st *stream) []string {
		out := make([]string, 0, len(st.pending))
		for _, q := range st.pending {
			out = append(out, q.jti)
		}
		return out
	})
}

// Failed are the jtis given up after Options.MaxAttempts push attempts.
func (s *Server) Failed(streamID string) []string {
	return s.list(streamID, func(st *stream) []string { return st.failed })
}

// Rejected maps the jtis the receiver refused (a push answered 400 with
// an RFC 8935 error, or a poll's setErrs) to the error code it gave.
func (s *Server) Rejected(streamID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.streams[streamID]; ok {
		return maps.Clone(st.rejected)
	}
	return nil
}

// Attempts is how many push requests carried jti on the stream.
func (s *Server) Attempts(streamID, jti string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.streams[streamID]; ok {
		return st.attempts[jti]
	}
	return 0
}

func (s *Server) list(streamID string, get func(*stream) []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.streams[streamID]; ok {
		return slices.Clone(get(st))
	}
	return nil
}
