package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// bulkheadRetry is how long a grant that found its system's slots taken
// waits at most before it is tried again; a freed slot wakes it sooner.
const bulkheadRetry = 5 * time.Second

// Bulkhead bounds how many grants of one connected system are reconciled
// at once, so that a slow or dead system holds at most Limit workers and
// the others keep serving every other system. A grant that finds its
// system's slots taken waits in the work queue, not in a worker: it is
// queued again as soon as a slot frees.
type Bulkhead struct {
	limit int

	mu      sync.Mutex
	busy    map[string]int
	waiting map[string]*waitList
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
}

// waitList is a system's waiting grants in arrival order, each once.
type waitList struct {
	order []reconcile.Request
	in    map[reconcile.Request]bool
}

// NewBulkhead returns a bulkhead of limit slots per system; limit < 1
// means one.
func NewBulkhead(limit int) *Bulkhead {
	return &Bulkhead{limit: max(limit, 1), busy: map[string]int{}, waiting: map[string]*waitList{}}
}

// Enter takes one of system's slots for req. When none is free it records
// req as waiting and returns false; release must be called once otherwise.
func (b *Bulkhead) Enter(system string, req reconcile.Request) (release func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy[system] >= b.limit {
		w := b.waiting[system]
		if w == nil {
			w = &waitList{in: map[reconcile.Request]bool{}}
			b.waiting[system] = w
		}
		if !w.in[req] {
			w.in[req] = true
			w.order = append(w.order, req)
		}
		return nil, false
	}
	b.busy[system]++
	var once sync.Once
	return func() { once.Do(func() { b.leave(system) }) }, true
}

// leave frees a slot and queues the longest-waiting grant of the system.
func (b *Bulkhead) leave(system string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy[system]--; b.busy[system] <= 0 {
		delete(b.busy, system)
	}
	w := b.waiting[system]
	if w == nil {
		return
	}
	next := w.order[0]
	w.order = w.order[1:]
	delete(w.in, next)
	if len(w.order) == 0 {
		delete(b.waiting, system)
	}
	if b.queue != nil {
		b.queue.Add(next)
	}
}

// Busy returns how many slots of system are taken.
func (b *Bulkhead) Busy(system string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.busy[system]
}

// source gives the bulkhead the controller's queue, to wake waiting grants.
func (b *Bulkhead) source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.queue = q
		return nil
	})
}
