// Package guard is the blast-radius guard: it stops a bad policy push or a
// bad findings feed from quarantining or revoking everyone at once.
package guard

import (
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults: the larger of 10 or 5 % of all grants per 10 minutes.
const (
	DefaultMinBudget = 10
	DefaultPercent   = 5.0
	DefaultWindow    = 10 * time.Minute
)

// Options configure a guard.
type Options struct {
	// MinBudget is the smallest number of restrictive transitions allowed
	// per window, however few grants there are.
	MinBudget int
	// Percent of all grants that may be restricted per window.
	Percent float64
	// Window is the sliding window the budget applies to.
	Window time.Duration
}

// Guard counts the quarantines and revocations it admitted in a sliding
// window and refuses more than the budget. It is safe for concurrent use.
type Guard struct {
	clock clock.PassiveClock
	opts  Options

	mu       sync.Mutex
	admitted []admission
}

// admission is one restrictive transition the guard let through.
type admission struct {
	at  time.Time
	key string
}

// DefaultOptions returns the default budget.
func DefaultOptions() Options {
	return Options{MinBudget: DefaultMinBudget, Percent: DefaultPercent, Window: DefaultWindow}
}

// New returns a guard. A negative minimum or percent counts as zero; a
// window of zero takes the default.
func New(clk clock.PassiveClock, opts Options) *Guard {
	opts.MinBudget = max(opts.MinBudget, 0)
	opts.Percent = max(opts.Percent, 0)
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	return &Guard{clock: clk, opts: opts}
}

// SetOptions changes the budget from now on; what was admitted in the
// current window still counts.
func (g *Guard) SetOptions(opts Options) {
	fresh := New(g.clock, opts)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opts = fresh.opts
}

// Budget is how many restrictive transitions the window allows with total grants.
func (g *Guard) Budget(total int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.budget(total)
}

// budget is Budget for callers that hold the lock.
func (g *Guard) budget(total int) int {
	return max(g.opts.MinBudget, int(math.Floor(float64(total)*g.opts.Percent/100)))
}

// Admit records the restrictive transition of key (a grant) and reports
// true when it fits the budget; false means it must be held. A key
// admitted in the window is admitted again without using more budget, so
// retrying a failed transition does not count twice.
func (g *Guard) Admit(key string, total int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	g.prune(now)
	for _, a := range g.admitted {
		if a.key == key {
			return true
		}
	}
	if len(g.admitted) >= g.budget(total) {
		return false
	}
	g.admitted = append(g.admitted, admission{at: now, key: key})
	return true
}

// Record counts a transition a person released: it uses budget too.
func (g *Guard) Record(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prune(g.clock.Now())
	g.admitted = append(g.admitted, admission{at: g.clock.Now(), key: key})
}

// Remaining is the budget left in the current window.
func (g *Guard) Remaining(total int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prune(g.clock.Now())
	return max(0, g.budget(total)-len(g.admitted))
}

func (g *Guard) prune(now time.Time) {
	cut := 0
	for cut < len(g.admitted) && now.Sub(g.admitted[cut].at) >= g.opts.Window {
		cut++
	}
	g.admitted = g.admitted[cut:]
}
