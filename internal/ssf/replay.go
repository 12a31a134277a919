package ssf

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// DefaultMaxReplayEntries bounds a MemoryReplayStore built with no bound.
const DefaultMaxReplayEntries = 100_000

// ReplayStore remembers the jtis a receiver has accepted, per issuer, until
// they expire. Checking and recording are two steps so that a receiver
// records a jti only once it has acted on the SET (see Verifier.Accept):
// Check, during verification, refuses a jti already recorded; Record, after
// the SET was acted on, remembers it. Both return ErrReplay (wrapped) for a
// jti recorded before, and any other error when the store cannot promise to
// remember the jti (Check: would not have room to record it now).
type ReplayStore interface {
	// Check reports whether (issuer, jti) was already recorded (ErrReplay)
	// or could not be recorded now (another error). It remembers nothing.
	Check(ctx context.Context, issuer, jti string) error
	// Record remembers (issuer, jti) until expires, or reports that it was
	// already remembered.
	Record(ctx context.Context, issuer, jti string, expires time.Time) error
}

// MemoryReplayStore is a bounded in-memory ReplayStore, safe for concurrent
// use. When it is full it first forgets entries past their expiry, oldest
// first. When every entry is still unexpired it refuses the new jti with
// ErrReplayStoreFull instead of forgetting one: a forgotten jti whose SET is
// still inside the iat window could be replayed and accepted again, and the
// receiver must not act twice on, say, an account-enabled event. A refusal
// is a retryable error; the transmitter sends the SET again later, when
// entries have expired.
//
// It is per process: receivers behind a load balancer need a shared store.
type MemoryReplayStore struct {
	clock      clock.PassiveClock
	maxEntries int

	mu      sync.Mutex
	entries map[replayKey]time.Time
	byExp   expiryHeap
}

type replayKey struct{ issuer, jti string }

// NewMemoryReplayStore returns a store holding at most maxEntries jtis
// (DefaultMaxReplayEntries when maxEntries ≤ 0), telling time by clk.
func NewMemoryReplayStore(clk clock.PassiveClock, maxEntries int) *MemoryReplayStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxReplayEntries
	}
	return &MemoryReplayStore{clock: clk, maxEntries: maxEntries, entries: map[replayKey]time.Time{}}
}

// Check implements ReplayStore: ErrReplay for a jti held, ErrReplayStoreFull
// when every slot holds an unexpired jti, so that a receiver learns it could
// not record the SET before it acts on it.
func (m *MemoryReplayStore) Check(_ context.Context, issuer, jti string) error {
	if issuer == "" || jti == "" {
		return errors.New("replay store: empty issuer or jti")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checkLocked(replayKey{issuer: issuer, jti: jti})
}

// Record implements ReplayStore.
func (m *MemoryReplayStore) Record(_ context.Context, issuer, jti string, expires time.Time) error {
	if issuer == "" || jti == "" {
		return errors.New("replay store: empty issuer or jti")
	}
	key := replayKey{issuer: issuer, jti: jti}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(key); err != nil {
		return err
	}
	m.entries[key] = expires
	heap.Push(&m.byExp, replayEntry{key: key, expires: expires})
	return nil
}

// checkLocked forgets expired entries, then reports whether key is held
// (ErrReplay) or there is no room for it (ErrReplayStoreFull).
func (m *MemoryReplayStore) checkLocked(key replayKey) error {
	now := m.clock.Now()
	m.evictExpired(now)
	if exp, ok := m.entries[key]; ok && exp.After(now) {
		return ErrReplay
	}
	if len(m.entries) >= m.maxEntries {
		return fmt.Errorf("%w: %d unexpired entries", ErrReplayStoreFull, len(m.entries))
	}
	return nil
}

// Len returns the number of jtis held.
func (m *MemoryReplayStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// evictExpired forgets entries whose expiry is not after now, oldest first.
func (m *MemoryReplayStore) evictExpired(now time.Time) {
	for m.byExp.Len() > 0 && !m.byExp[0].expires.After(now) {
		e := heap.Pop(&m.byExp).(replayEntry)
		if exp, ok := m.entries[e.key]; ok && exp.Equal(e.expires) {
			delete(m.entries, e.key)
		}
	}
}

type replayEntry struct {
	key     replayKey
	expires time.Time
}

// expiryHeap is a min-heap of entries by expiry.
type expiryHeap []replayEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

func (h *expiryHeap) Push(x any) { *h = append(*h, x.(replayEntry)) }

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
