// Package guard is the blast-radius guard: it stops a bad policy push or a
// bad findings feed from quarantining or revoking everyone at once.
package guard

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults: the larger of 10 or 5 % of all grants per 10 minutes, half of
// it kept for severe transitions.
const (
	DefaultMinBudget     = 10
	DefaultPercent       = 5.0
	DefaultWindow        = 10 * time.Minute
	DefaultSevereReserve = 50.0
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
	// SevereReserve is the percent of the budget that only severe
	// transitions (backed by Critical evidence, such as activity from a
	// sanctioned country) may use: a burst of weaker quarantines cannot
	// hold them back. Severe transitions may use the whole budget.
	SevereReserve float64
}

// Guard counts the quarantines and revocations it admitted in a sliding
// window and refuses more than the budget. It is safe for concurrent use.
type Guard struct {
	clock clock.PassiveClock
	opts  Options

	mu       sync.Mutex
	admitted []admission
	store    Store
	restored bool
	// changed counts the changes to the window that the store must hold,
	// saved the number it held after the latest save; saving is open while
	// a save is under way.
	changed, saved uint64
	saving         chan struct{}
}

// admission is one restrictive transition the guard let through.
type admission struct {
	at     time.Time
	key    string
	severe bool
}

// DefaultOptions returns the default budget.
func DefaultOptions() Options {
	return Options{MinBudget: DefaultMinBudget, Percent: DefaultPercent, Window: DefaultWindow, SevereReserve: DefaultSevereReserve}
}

// New returns a guard. A negative minimum or percent counts as zero; a
// window of zero takes the default.
func New(clk clock.PassiveClock, opts Options) *Guard {
	opts.MinBudget = max(opts.MinBudget, 0)
	opts.Percent = max(opts.Percent, 0)
	opts.SevereReserve = min(max(opts.SevereReserve, 0), 100)
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
// retrying a failed transition does not count twice. Transitions that are
// not severe share what the severe reserve leaves of the budget.
func (g *Guard) Admit(key string, total int) bool { return g.admit(key, total, false) }

// AdmitSevere is Admit for a severe transition, backed by Critical
// evidence: it may use the whole budget, the reserve included.
func (g *Guard) AdmitSevere(key string, total int) bool { return g.admit(key, total, true) }

func (g *Guard) admit(key string, total int, severe bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	g.prune(now)
	ordinary := 0
	for _, a := range g.admitted {
		if a.key == key {
			return true
		}
		if !a.severe {
			ordinary++
		}
	}
	budget := g.budget(total)
	if len(g.admitted) >= budget {
		return false
	}
	reserve := int(math.Floor(float64(budget) * g.opts.SevereReserve / 100))
	if !severe && ordinary >= budget-reserve {
		return false
	}
	g.admitted = append(g.admitted, admission{at: now, key: key, severe: severe})
	g.changed++
	return true
}

// Record counts a transition a person released: it uses budget too.
func (g *Guard) Record(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prune(g.clock.Now())
	g.admitted = append(g.admitted, admission{at: g.clock.Now(), key: key})
	g.changed++
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

// Admission is one restrictive transition in the window, as a Store keeps it.
type Admission struct {
	Key    string    `json:"key"`
	At     time.Time `json:"at"`
	Severe bool      `json:"severe,omitempty"`
}

// Store keeps the guard's window where a restart or a new leader finds it:
// without it, each restart would start a fresh budget.
type Store interface {
	Load(ctx context.Context) ([]Admission, error)
	Save(ctx context.Context, window []Admission) error
}

// UseStore makes the guard restore its window from s and persist it there.
func (g *Guard) UseStore(s Store) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.store, g.restored = s, false
	g.changed++ // what the guard holds is not in the new store yet
}

// Restore merges the stored window into the guard's, once; later calls do
// nothing. Call it before Admit.
func (g *Guard) Restore(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.store == nil || g.restored {
		return nil
	}
	stored, err := g.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("restoring the blast-radius guard's window: %w", err)
	}
	have := map[string]bool{}
	for _, a := range g.admitted {
		have[a.key] = true
	}
	for _, a := range stored {
		if !have[a.Key] {
			g.admitted = append(g.admitted, admission{at: a.At, key: a.Key, severe: a.Severe})
		}
	}
	sort.SliceStable(g.admitted, func(i, j int) bool { return g.admitted[i].at.Before(g.admitted[j].at) })
	g.prune(g.clock.Now())
	g.restored = true
	return nil
}

// Persist writes the current window to the store. Call it after Admit or
// Record let a transition through and before applying it, so that a crash
// after the transition cannot give its budget back.
//
// Concurrent calls share writes: a call returns once a save that began
// after its own change has succeeded, so a burst of transitions costs a
// few writes rather than one each, and a call with nothing new to save
// (a retry of an admitted transition) writes nothing.
func (g *Guard) Persist(ctx context.Context) error {
	g.mu.Lock()
	want := g.changed
	for g.saving != nil && g.saved < want {
		wait := g.saving
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("persisting the blast-radius guard's window: %w", ctx.Err())
		}
		g.mu.Lock()
	}
	if g.store == nil || g.saved >= want {
		g.mu.Unlock()
		return nil
	}
	g.prune(g.clock.Now())
	window := make([]Admission, 0, len(g.admitted))
	for _, a := range g.admitted {
		window = append(window, Admission{Key: a.key, At: a.at, Severe: a.severe})
	}
	version, store, done := g.changed, g.store, make(chan struct{})
	g.saving = done
	g.mu.Unlock()
	if err := g.save(ctx, store, window, version, done); err != nil {
		return fmt.Errorf("persisting the blast-radius guard's window: %w", err)
	}
	return nil
}

// save writes window, which holds the changes up to version, outside the
// lock. Afterwards, even when the store panics, it records what was saved
// and wakes the callers waiting on done.
func (g *Guard) save(ctx context.Context, store Store, window []Admission, version uint64, done chan struct{}) error {
	saved := false
	defer func() {
		g.mu.Lock()
		if saved {
			g.saved = max(g.saved, version)
		}
		g.saving = nil
		close(done)
		g.mu.Unlock()
	}()
	if err := store.Save(ctx, window); err != nil {
		return err
	}
	saved = true
	return nil
}
