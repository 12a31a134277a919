package ingest

import (
	"context"
	"slices"
	"sync"
	"time"
)

// admission caps the requests being read or ingested at once and the body
// bytes they may hold. A request that finds the caps full waits, at most
// wait, in a queue of at most maxWaiters; nothing queues without bound.
//
// The caps are shared fairly. One token holds at most a quarter of the
// request slots (at least one); one more slot is kept for small bodies
// (a declared length of at most smallBody), which are quick to serve; and
// a freed slot goes to the waiter whose token holds the fewest, then to
// the smallest body: neither one token nor many tokens sending large
// bodies can keep a small batch from another sender waiting. When
// the queue is full, a newcomer that would be served before the last
// waiter takes its place, and the last waiter is refused.
type admission struct {
	maxRequests, perToken, maxWaiters int
	maxBytes                          int64
	wait                              time.Duration

	mu       sync.Mutex
	requests int // in the general slots
	small    int // in the slot kept for small bodies
	bytes    int64
	held     map[digest]int
	waiters  []*waiter
}

// smallBody is the largest declared body that may take the slot kept for
// small bodies: a batch of a few dozen events.
const smallBody = 64 << 10

// A request's slot: one of the general ones, or the one for small bodies.
type slot int

const (
	noSlot slot = iota
	generalSlot
	smallSlot
)

// waiter is a request waiting for a slot; ready is closed when it got one.
type waiter struct {
	token    digest
	n        int64
	ready    chan struct{}
	admitted slot
}

func newAdmission(requests int, bytes int64, wait time.Duration) *admission {
	return &admission{maxRequests: requests, perToken: max(1, requests/4), maxWaiters: 4 * requests,
		maxBytes: bytes, wait: wait, held: map[digest]int{}}
}

// admit takes a request slot and n body bytes for the token; ok is false
// when they did not come free within the wait. release gives them back.
func (a *admission) admit(ctx context.Context, token digest, n int64) (release func(), ok bool) {
	a.mu.Lock()
	if free := a.fits(token, n); free != noSlot {
		a.take(token, n, free)
		a.mu.Unlock()
		return a.releaser(token, n, free), true
	}
	w := &waiter{token: token, n: n, ready: make(chan struct{})}
	if a.wait <= 0 || !a.enqueue(w) {
		a.mu.Unlock()
		return nil, false
	}
	a.mu.Unlock()
	timer := time.NewTimer(a.wait)
	defer timer.Stop()
	select {
	case <-w.ready:
	case <-timer.C:
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.admitted != noSlot {
		return a.releaser(token, n, w.admitted), true
	}
	a.drop(w)
	return nil, false
}

// fits returns the slot a request of the token's with n bytes may take
// now, or noSlot.
func (a *admission) fits(token digest, n int64) slot {
	switch {
	case a.bytes+n > a.maxBytes || a.held[token] >= a.perToken:
		return noSlot
	case a.requests < a.maxRequests:
		return generalSlot
	case n <= smallBody && a.small == 0:
		return smallSlot
	}
	return noSlot
}

func (a *admission) take(token digest, n int64, s slot) {
	if s == smallSlot {
		a.small++
	} else {
		a.requests++
	}
	a.bytes += n
	a.held[token]++
}

// before reports whether w is served before v.
func (a *admission) before(w, v *waiter) bool {
	if hw, hv := a.held[w.token], a.held[v.token]; hw != hv {
		return hw < hv
	}
	return w.n < v.n
}

// enqueue adds w to the queue, in the place of the last waiter when the
// queue is full and w goes before it; false when w has no place.
func (a *admission) enqueue(w *waiter) bool {
	if len(a.waiters) < a.maxWaiters {
		a.waiters = append(a.waiters, w)
		return true
	}
	last := 0
	for i, v := range a.waiters {
		if a.before(a.waiters[last], v) {
			last = i
		}
	}
	if !a.before(w, a.waiters[last]) {
		return false
	}
	// The evicted waiter wakes without a slot and is refused.
	evicted := a.waiters[last]
	a.waiters[last] = w
	close(evicted.ready)
	return true
}

func (a *admission) drop(w *waiter) {
	a.waiters = slices.DeleteFunc(a.waiters, func(v *waiter) bool { return v == w })
}

func (a *admission) releaser(token digest, n int64, s slot) func() {
	var once sync.Once
	return func() { once.Do(func() { a.release(token, n, s) }) }
}

// release gives a request's slot and bytes back and admits the waiters
// that now fit, best first.
func (a *admission) release(token digest, n int64, s slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s == smallSlot {
		a.small--
	} else {
		a.requests--
	}
	a.bytes -= n
	if a.held[token]--; a.held[token] <= 0 {
		delete(a.held, token)
	}
	for {
		best := -1
		for i, w := range a.waiters {
			if a.fits(w.token, w.n) != noSlot && (best < 0 || a.before(w, a.waiters[best])) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		w := a.waiters[best]
		a.waiters = slices.Delete(a.waiters, best, best+1)
		w.admitted = a.fits(w.token, w.n)
		a.take(w.token, w.n, w.admitted)
		close(w.ready)
	}
}
