package controllers

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// evalErrorWindow is how long an evaluation error keeps its policy's Ready
// condition False after the last one.
const evalErrorWindow = 10 * time.Minute

// EvaluationErrors remembers, per AccessPolicy, the decisions in which the
// policy failed to evaluate (a runtime error, a timeout), so that a policy
// that compiles but errors does not show Ready=True. The grant reconciler
// records them; the AccessPolicy reconciler reads them and is woken at the
// first error of a spell.
type EvaluationErrors struct {
	clock   clock.PassiveClock
	changes chan event.GenericEvent

	mu       sync.Mutex
	byPolicy map[string]*evalSpell
}

// evalSpell is a run of errors with no gap longer than the window.
type evalSpell struct {
	count     int
	last      string
	first, at time.Time
	woken     bool
}

// NewEvaluationErrors returns an empty record.
func NewEvaluationErrors(clk clock.PassiveClock) *EvaluationErrors {
	return &EvaluationErrors{clock: clk, changes: make(chan event.GenericEvent, 64), byPolicy: map[string]*evalSpell{}}
}

// Record notes the policy errors among a decision's reasons and warnings.
func (e *EvaluationErrors) Record(d *policy.Decision) {
	for _, list := range [][]policy.Reason{d.Reasons, d.DryRun, d.Warnings} {
		for _, r := range list {
			if r.Code == policy.CodePolicyError {
				e.record(r.Policy, r.Message)
			}
		}
	}
}

func (e *EvaluationErrors) record(name, msg string) {
	now := e.clock.Now()
	e.mu.Lock()
	s := e.byPolicy[name]
	if s == nil || now.Sub(s.at) > evalErrorWindow {
		s = &evalSpell{first: now}
		e.byPolicy[name] = s
	}
	s.count++
	s.last, s.at = msg, now
	wake := !s.woken
	s.woken = true
	e.mu.Unlock()
	if wake {
		p := &accessv1alpha1.AccessPolicy{}
		p.Name = name
		select {
		case e.changes <- event.GenericEvent{Object: p}:
		default:
		}
	}
}

// Recent returns the policy's current spell of errors, if it has one.
func (e *EvaluationErrors) Recent(name string) (count int, last string, first, at time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.byPolicy[name]
	if s == nil || e.clock.Since(s.at) > evalErrorWindow {
		delete(e.byPolicy, name)
		return 0, "", time.Time{}, time.Time{}, false
	}
	return s.count, s.last, s.first, s.at, true
}

// Forget drops a policy's errors: it changed, or is gone.
func (e *EvaluationErrors) Forget(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byPolicy, name)
}

// source wakes the AccessPolicy reconciler at the first error of a spell.
func (e *EvaluationErrors) source() source.Source {
	return source.Channel(e.changes, &handler.EnqueueRequestForObject{})
}
