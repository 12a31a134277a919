package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// recheckInterval is the least time between two re-checks of one system
// that enforcement failures ask for.
const recheckInterval = 10 * time.Second

// SystemHealth ties enforcement to the ConnectedSystem's Ready condition:
// a failed enforcement asks the ConnectedSystem reconciler to check the
// system again now, rather than at its next periodic check, so that a
// system that went down shows Ready=False within seconds. When the check
// passes again, the grants whose enforcement failed there are retried at
// once (becameReady), not after their backoff.
type SystemHealth struct {
	clock  clock.PassiveClock
	checks chan event.GenericEvent

	mu   sync.Mutex
	last map[string]time.Time
}

// NewSystemHealth returns a SystemHealth; the two reconcilers share it.
func NewSystemHealth(clk clock.PassiveClock) *SystemHealth {
	return &SystemHealth{clock: clk, checks: make(chan event.GenericEvent, 64), last: map[string]time.Time{}}
}

// EnforcementFailed asks for a re-check of system, at most once per
// recheckInterval. It never blocks: when the channel is full, checks are
// already on their way.
func (h *SystemHealth) EnforcementFailed(system *accessv1alpha1.ConnectedSystem) {
	now := h.clock.Now()
	h.mu.Lock()
	if t, ok := h.last[system.Name]; ok && now.Sub(t) < recheckInterval {
		h.mu.Unlock()
		return
	}
	for name, t := range h.last {
		if now.Sub(t) >= recheckInterval {
			delete(h.last, name)
		}
	}
	h.last[system.Name] = now
	h.mu.Unlock()
	obj := &accessv1alpha1.ConnectedSystem{}
	obj.Name = system.Name
	select {
	case h.checks <- event.GenericEvent{Object: obj}:
	default:
	}
}

// source queues the systems to re-check for the ConnectedSystem reconciler.
func (h *SystemHealth) source() source.Source {
	return source.Channel(h.checks, &handler.EnqueueRequestForObject{})
}

// becameReady passes a ConnectedSystem whose Ready condition turned True.
func becameReady() builder.Predicates {
	return updatesWhere(false, func(oldS, newS *accessv1alpha1.ConnectedSystem) bool {
		return !meta.IsStatusConditionTrue(oldS.Status.Conditions, accessv1alpha1.ConditionReady) &&
			meta.IsStatusConditionTrue(newS.Status.Conditions, accessv1alpha1.ConditionReady)
	})
}

// failingGrants enqueues the grants of a system whose last enforcement
// there failed.
func failingGrants(c client.Client) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &accessv1alpha1.AccessGrantList{}
		if err := c.List(ctx, list, client.MatchingFields{kube.IndexSystem: obj.GetName()}); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range list.Items {
			if enf := list.Items[i].Status.Enforcement; enf != nil && enf.LastError != "" {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{
					Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
			}
		}
		return out
	})
}
