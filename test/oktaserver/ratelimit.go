package oktaserver

import (
	"net/http"
	"strconv"
	"time"
)

// window is one route's fixed rate-limit window.
type window struct {
	start time.Time
	used  int
}

func (s *Server) limitFor(route string) int {
	if n, ok := s.opts.RateLimits[route]; ok {
		return n
	}
	return s.opts.DefaultRateLimit
}

// currentWindow returns route's window, starting a new one when the last
// has ended. The caller holds s.mu.
func (s *Server) currentWindow(route string) *window {
	now := s.now()
	win := s.limits[route]
	if win == nil || !now.Before(win.start.Add(s.opts.RateLimitWindow)) {
		win = &window{start: now}
		s.limits[route] = win
	}
	return win
}

// setRateHeaders writes Okta's three rate-limit headers. The caller holds s.mu.
func (s *Server) setRateHeaders(w http.ResponseWriter, route string, win *window) {
	limit := s.limitFor(route)
	remaining := max(limit-win.used, 0)
	reset := win.start.Add(s.opts.RateLimitWindow)
	resetSec := reset.Unix()
	if reset.Nanosecond() > 0 {
		resetSec++
	}
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(resetSec, 10))
}

// takeRateLimit spends one request of route's budget, writes the rate-limit
// headers, and answers 429 when the budget is gone.
func (s *Server) takeRateLimit(w http.ResponseWriter, route string) bool {
	s.mu.Lock()
	win := s.currentWindow(route)
	over := win.used >= s.limitFor(route)
	if !over {
		win.used++
	}
	s.setRateHeaders(w, route, win)
	s.mu.Unlock()
	if over {
		s.writeStatusError(w, http.StatusTooManyRequests)
		return false
	}
	return true
}

// FailNext makes the next n requests to route fail with status (typically
// 429, 500 or 503) before authentication, with Okta's error body for that
// status. A forced 429 reports zero remaining in the rate-limit headers.
func (s *Server) FailNext(route string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[route] = append(s.faults[route], status)
	}
}

func (s *Server) applyFault(w http.ResponseWriter, route string) bool {
	s.mu.Lock()
	queue := s.faults[route]
	if len(queue) == 0 {
		s.mu.Unlock()
		return false
	}
	status := queue[0]
	s.faults[route] = queue[1:]
	win := s.currentWindow(route)
	s.setRateHeaders(w, route, win)
	if status == http.StatusTooManyRequests {
		w.Header().Set("X-Rate-Limit-Remaining", "0")
	}
	s.mu.Unlock()
	s.writeStatusError(w, status)
	return true
}

// SetDown makes every request fail (or stop failing), as SetDownMode says.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDownMode chooses how a down server fails; the default is
// DownUnavailable.
func (s *Server) SetDownMode(mode DownMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downMode = mode
}

func (s *Server) failIfDown(w http.ResponseWriter) bool {
	s.mu.Lock()
	down, mode := s.down, s.downMode
	s.mu.Unlock()
	if !down {
		return false
	}
	if mode == DownHangup {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
	}
	w.Header().Set("Retry-After", "1")
	s.writeError(w, http.StatusServiceUnavailable, errInternal, "Service Unavailable")
	return true
}
