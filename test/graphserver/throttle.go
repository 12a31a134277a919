package graphserver

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// budget is a fixed-window request budget for one application, the shape of
// Graph's identity and access service limits (a budget per app per tenant
// per window, answered with 429 and Retry-After once spent).
type budget struct {
	limit  int
	window time.Duration
	start  time.Time
	used   int
}

// SetThrottleBudget lets clientID make at most requests Graph calls per
// window; past it Graph answers 429 TooManyRequests with Retry-After set to
// the whole seconds until the window ends. requests <= 0 removes the budget.
// The token endpoint is not metered.
func (s *Server) SetThrottleBudget(clientID string, requests int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if requests <= 0 {
		delete(s.budgets, clientID)
		return
	}
	if window <= 0 {
		window = 10 * time.Second
	}
	s.budgets[clientID] = &budget{limit: requests, window: window}
}

// FailNext makes the next n requests to path answer status instead of being
// served. path is a URL path such as "/v1.0/auditLogs/signIns",
// "/v1.0/groups/{id}/members/$ref" (the literal id) or the token endpoint
// path; "*" matches every path. 429 and 503 carry Retry-After. Graph paths
// get Graph's error body, the token endpoint gets an AAD error body.
// Calls queue: FailNext(p, 429, 1) then FailNext(p, 503, 1) fails twice.
func (s *Server) FailNext(path string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.forced[path] = append(s.forced[path], status)
	}
}

// popForced returns the status forced for path, or 0. Callers hold s.mu.
func (s *Server) popForced(path string) int {
	for _, p := range []string{path, "*"} {
		if q := s.forced[p]; len(q) > 0 {
			s.forced[p] = q[1:]
			return q[0]
		}
	}
	return 0
}

// spend charges one request to clientID's budget and reports the wait when
// it is spent. Callers hold s.mu.
func (s *Server) spend(clientID string) (time.Duration, bool) {
	b := s.budgets[clientID]
	if b == nil {
		return 0, true
	}
	now := s.now()
	if b.start.IsZero() || !now.Before(b.start.Add(b.window)) {
		b.start, b.used = now, 0
	}
	if b.used >= b.limit {
		return b.start.Add(b.window).Sub(now), false
	}
	b.used++
	return 0, true
}

// throttled answers 429 when the caller's budget is spent.
func (rc *reqCtx) throttled() bool {
	rc.s.mu.Lock()
	wait, ok := rc.s.spend(rc.app.AppID)
	rc.s.mu.Unlock()
	if ok {
		return false
	}
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	rc.w.Header().Set("Retry-After", fmt.Sprint(secs))
	rc.graphError(http.StatusTooManyRequests, "TooManyRequests",
		"Too many requests. Please retry after the number of seconds in the Retry-After header.")
	return true
}
