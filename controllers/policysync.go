package controllers

import (
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/event"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// PolicySync tells the grant reconciler when the engine holds every
// AccessPolicy, so that no grant is decided with a partial policy set (after
// a restart, an empty engine would allow everything), and signals every
// change of the engine's policies so that all grants are decided again.
type PolicySync struct {
	mu        sync.Mutex
	attempted map[string]int64
	changes   chan event.GenericEvent
}

// NewPolicySync returns an empty tracker.
func NewPolicySync() *PolicySync {
	return &PolicySync{attempted: map[string]int64{}, changes: make(chan event.GenericEvent, 1)}
}

// Attempted records that a policy's generation was compiled (or failed to),
// and signals a change.
func (p *PolicySync) Attempted(name string, generation int64) {
	p.mu.Lock()
	p.attempted[name] = generation
	p.mu.Unlock()
	p.signal()
}

// Forget drops a deleted policy and signals a change.
func (p *PolicySync) Forget(name string) {
	p.mu.Lock()
	delete(p.attempted, name)
	p.mu.Unlock()
	p.signal()
}

// Synced reports whether every policy has been attempted at its generation.
func (p *PolicySync) Synced(policies []accessv1alpha1.AccessPolicy) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range policies {
		if p.attempted[policies[i].Name] != policies[i].Generation {
			return false
		}
	}
	return true
}

// Changes delivers one event after any number of changes: its receiver
// re-decides every grant, so changes coalesce.
func (p *PolicySync) Changes() <-chan event.GenericEvent {
	return p.changes
}

func (p *PolicySync) signal() {
	select {
	case p.changes <- event.GenericEvent{Object: &accessv1alpha1.AccessPolicy{}}:
	default:
	}
}
