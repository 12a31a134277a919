package policy

import (
	"context"
	"maps"
	"sync"
)

// Fake is an Engine for controller tests: it records loaded policies and
// returns the decision that DecideFunc computes (Allow when nil).
type Fake struct {
	// DecideFunc, when set, computes every decision.
	DecideFunc func(Input) (Decision, error)
	// CompileErr, when set, is returned by Upsert for every policy.
	CompileErr error

	mu       sync.Mutex
	policies map[string]string
}

var _ Engine = (*Fake)(nil)

// Upsert records the policy's revision, or returns CompileErr.
func (f *Fake) Upsert(_ context.Context, p Policy) (string, error) {
	if f.CompileErr != nil {
		return "", f.CompileErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.policies == nil {
		f.policies = map[string]string{}
	}
	f.policies[p.Name] = Revision(p.Source)
	return f.policies[p.Name], nil
}

// Fail records nothing: the fake has no failing entries.
func (f *Fake) Fail(Policy, error) {}

// Remove forgets the policy.
func (f *Fake) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.policies, name)
}

// Decide returns DecideFunc's decision, or Allow.
func (f *Fake) Decide(_ context.Context, in Input) (Decision, error) {
	if f.DecideFunc != nil {
		return f.DecideFunc(in)
	}
	return Decision{Action: "Allow", Revision: f.Revision()}, nil
}

// Revision is "fake".
func (f *Fake) Revision() string { return "fake" }

// Loaded returns the recorded policies.
func (f *Fake) Loaded() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.policies)
}
