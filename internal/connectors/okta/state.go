package okta

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// What the connector remembers between calls, in memory: the rate-limit
// budget each endpoint had left, bounded.
const (
	maxLimitEntries    = 1024
	defaultMaxWait     = 60 * time.Second
	minRateLimitWait   = 100 * time.Millisecond
	rateLimitRemaining = "X-Rate-Limit-Remaining"
	rateLimitReset     = "X-Rate-Limit-Reset"
)

// rateState is an endpoint's budget after the last answer.
type rateState struct {
	remaining int
	// reset is when the budget refills, on this host's clock.
	reset time.Time
}

func (c *Connector) maxWait() time.Duration {
	if c.MaxRateLimitWait > 0 {
		return c.MaxRateLimitWait
	}
	return defaultMaxWait
}

// noteLimits records the rate-limit headers of an answer.
func (c *Connector) noteLimits(key string, h http.Header) {
	remaining, err := strconv.Atoi(h.Get(rateLimitRemaining))
	reset, ok := resetAt(h)
	if err != nil || !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limits == nil || len(c.limits) >= maxLimitEntries {
		c.limits = map[string]rateState{}
	}
	c.limits[key] = rateState{remaining: remaining, reset: reset}
}

// resetAt reads X-Rate-Limit-Reset (Unix seconds on Okta's clock) as a
// time on this host's clock: against the answer's Date header when it has
// one, so that a skewed clock waits neither too long nor too little.
func resetAt(h http.Header) (time.Time, bool) {
	secs, err := strconv.ParseInt(h.Get(rateLimitReset), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	reset := time.Unix(secs, 0)
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		return time.Now().Add(reset.Sub(date)), true
	}
	return reset, true
}

// waitForBudget waits, when the endpoint's last answer left no budget,
// until it resets.
func (c *Connector) waitForBudget(ctx context.Context, key string) error {
	c.mu.Lock()
	st, ok := c.limits[key]
	c.mu.Unlock()
	if !ok || st.remaining > 0 {
		return nil
	}
	wait := time.Until(st.reset)
	if wait <= 0 {
		return nil
	}
	if wait > c.maxWait() {
		return fmt.Errorf("the org's rate limit for %s is spent until %s, later than the connector waits (%s): it retries later",
			key, st.reset.UTC().Format(time.RFC3339), c.maxWait())
	}
	return sleep(ctx, wait)
}

// sleepUntilReset waits after a 429 until the limit resets, or fails when
// that is later than the connector waits.
func (c *Connector) sleepUntilReset(ctx context.Context, h http.Header, method, path string) error {
	wait := minRateLimitWait
	if reset, ok := resetAt(h); ok {
		wait = max(time.Until(reset), minRateLimitWait)
	}
	if wait > c.maxWait() {
		return fmt.Errorf("%s %s: Okta answered 429 (rate limit exceeded) until %s, later than the connector waits (%s): it retries later",
			method, path, time.Now().Add(wait).UTC().Format(time.RFC3339), c.maxWait())
	}
	return sleep(ctx, wait)
}

// sleep waits d, or fails at once when ctx would end first: a wait the
// call's deadline cannot cover only spends the time that the steps after
// it (ending the user's sessions) need.
func sleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return fmt.Errorf("waiting for Okta's rate limit to reset in %s, after this call's deadline: %w", d.Round(time.Second), context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for Okta's rate limit to reset: %w", ctx.Err())
	}
}
