package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// FindingClock remembers when the controller first saw each Finding, to
// measure how long its effect took to reach the connected systems.
type FindingClock struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	seen  map[types.UID]time.Time
}

// findingMemory bounds how long a first-seen time is kept.
const findingMemory = 5 * time.Minute

// NewFindingClock returns an empty FindingClock.
func NewFindingClock(clk clock.PassiveClock) *FindingClock {
	return &FindingClock{clock: clk, seen: map[types.UID]time.Time{}}
}

func (f *FindingClock) record(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	for k, t := range f.seen {
		if now.Sub(t) > findingMemory {
			delete(f.seen, k)
		}
	}
	if _, ok := f.seen[uid]; !ok {
		f.seen[uid] = now
	}
}

func (f *FindingClock) forget(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.seen, uid)
}

// take returns and forgets the first-seen times of these findings.
func (f *FindingClock) take(findings []accessv1alpha1.Finding) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for i := range findings {
		if t, ok := f.seen[findings[i].UID]; ok {
			out = append(out, t)
			delete(f.seen, findings[i].UID)
		}
	}
	return out
}

// handler enqueues the grants of a Finding's contractor and notes when a
// Finding was first seen.
func (f *FindingClock) handler(c client.Client) handler.EventHandler {
	grantsOf := func(ctx context.Context, obj client.Object) []reconcile.Request {
		finding, ok := obj.(*accessv1alpha1.Finding)
		if !ok {
			return nil
		}
		return listRequests(ctx, c, &accessv1alpha1.AccessGrantList{},
			client.InNamespace(finding.Namespace), client.MatchingFields{kube.IndexContractor: finding.Spec.ContractorRef.Name})
	}
	add := func(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, r := range grantsOf(ctx, obj) {
			q.Add(r)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			f.record(e.Object.GetUID())
			add(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				add(ctx, e.ObjectNew, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			f.forget(e.Object.GetUID())
			add(ctx, e.Object, q)
		},
	}
}
