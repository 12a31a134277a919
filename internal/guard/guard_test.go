package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestBudget(t *testing.T) {
	g := New(clocktesting.NewFakePassiveClock(time.Now()), DefaultOptions())
	for total, want := range map[int]int{0: 10, 100: 10, 200: 10, 201: 10, 220: 11, 10000: 500} {
		if got := g.Budget(total); got != want {
			t.Errorf("Budget(%d) = %d, want %d", total, got, want)
		}
	}
}

func TestAdmitHoldsTheExcessAndSlides(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	g := New(clk, Options{MinBudget: 3, Window: time.Minute})
	for i, key := range []string{"a", "b", "c"} {
		if !g.Admit(key, 10) {
			t.Fatalf("transition %d refused within budget", i)
		}
		clk.SetTime(clk.Now().Add(10 * time.Second))
	}
	if !g.Admit("a", 10) {
		t.Fatal("a retry of an admitted transition was refused")
	}
	if g.Admit("d", 10) {
		t.Fatal("a fourth transition was admitted over a budget of 3")
	}
	if g.Remaining(10) != 0 {
		t.Errorf("Remaining = %d, want 0", g.Remaining(10))
	}
	clk.SetTime(clk.Now().Add(31 * time.Second)) // the first admission leaves the window
	if !g.Admit("d", 10) {
		t.Fatal("the window did not slide")
	}
	g.Record("e")
	if g.Admit("f", 10) {
		t.Fatal("a released transition did not use budget")
	}
}

func TestSetOptionsKeepsWhatWasAdmitted(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	g := New(clk, Options{MinBudget: 5, Window: time.Minute})
	g.Admit("a", 0)
	g.Admit("b", 0)
	g.SetOptions(Options{MinBudget: 3, Window: time.Minute})
	if got := g.Remaining(0); got != 1 {
		t.Errorf("Remaining after lowering the budget = %d, want 1", got)
	}
}

// memStore is a Store in memory.
type memStore struct{ window []Admission }

func (m *memStore) Load(context.Context) ([]Admission, error) { return m.window, nil }
func (m *memStore) Save(_ context.Context, w []Admission) error {
	m.window = append([]Admission(nil), w...)
	return nil
}

func TestTheWindowSurvivesARestart(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	store := &memStore{}
	opts := Options{MinBudget: 2, Window: 10 * time.Minute}
	first := New(clk, opts)
	first.UseStore(store)
	for _, key := range []string{"a", "b"} {
		if err := first.Restore(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !first.Admit(key, 0) {
			t.Fatalf("%s was held", key)
		}
		if err := first.Persist(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	clk.Step(time.Minute)
	restarted := New(clk, opts)
	restarted.UseStore(store)
	if err := restarted.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if restarted.Admit("c", 0) {
		t.Fatal("a restart gave the window's budget back")
	}
	if !restarted.Admit("a", 0) {
		t.Fatal("a retry of an admitted transition was held after the restart")
	}
	clk.Step(10 * time.Minute)
	if !restarted.Admit("c", 0) {
		t.Fatal("the stored admissions did not leave the window")
	}
}

// A burst of ordinary quarantines leaves the reserve to severe ones; severe
// ones may use the whole budget, and the total stays bounded.
func TestSevereReserve(t *testing.T) {
	g := New(clocktesting.NewFakeClock(time.Now()), Options{MinBudget: 10, SevereReserve: 50, Window: time.Minute})
	for i := range 5 {
		if !g.Admit(fmt.Sprintf("weak-%d", i), 0) {
			t.Fatalf("ordinary transition %d held inside its share", i)
		}
	}
	if g.Admit("weak-5", 0) {
		t.Fatal("an ordinary transition used the severe reserve")
	}
	for i := range 5 {
		if !g.AdmitSevere(fmt.Sprintf("severe-%d", i), 0) {
			t.Fatalf("severe transition %d held though the reserve was free", i)
		}
	}
	if g.AdmitSevere("severe-5", 0) {
		t.Fatal("a severe transition went past the whole budget")
	}
	if !g.Admit("weak-0", 0) {
		t.Fatal("a retry of an admitted transition was held")
	}

	severeFirst := New(clocktesting.NewFakeClock(time.Now()), Options{MinBudget: 10, SevereReserve: 50, Window: time.Minute})
	for i := range 8 {
		if !severeFirst.AdmitSevere(fmt.Sprintf("severe-%d", i), 0) {
			t.Fatalf("severe transition %d held", i)
		}
	}
	if !severeFirst.Admit("weak-0", 0) || !severeFirst.Admit("weak-1", 0) || severeFirst.Admit("weak-2", 0) {
		t.Fatal("ordinary transitions must get what is left of the budget, and no more")
	}
	if small := New(clocktesting.NewFakeClock(time.Now()), Options{MinBudget: 1, SevereReserve: 50}); !small.Admit("only", 0) {
		t.Fatal("a budget of one was kept entirely for severe transitions")
	}
}

// gateStore is a Store whose saves wait for the test and can fail. Its
// channels are buffered, so that a save the test does not expect shows as
// a failure, not a hang.
type gateStore struct {
	mu      sync.Mutex
	window  []Admission
	saves   int
	entered chan struct{}
	release chan error
}

func newGateStore() *gateStore {
	return &gateStore{entered: make(chan struct{}, 16), release: make(chan error, 16)}
}

func (s *gateStore) Load(context.Context) ([]Admission, error) { return nil, nil }
func (s *gateStore) Save(_ context.Context, w []Admission) error {
	s.entered <- struct{}{}
	if err := <-s.release; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window = append([]Admission(nil), w...)
	s.saves++
	return nil
}

// stored reports whether the store holds an admission of key.
func (s *gateStore) stored(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.window {
		if a.Key == key {
			return true
		}
	}
	return false
}

// count is how many saves succeeded.
func (s *gateStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// wait fails the test when ch says nothing for a while.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// persistAsync admits key and persists it in the background; its channel
// says how that ended, and whether the store held key by then.
func persistAsync(t *testing.T, g *Guard, store *gateStore, key string) chan error {
	t.Helper()
	if !g.Admit(key, 0) {
		t.Fatalf("%s was held", key)
	}
	done := make(chan error, 1)
	go func() {
		err := g.Persist(context.Background())
		if err == nil && !store.stored(key) {
			err = fmt.Errorf("%s reported persisted before the store held it", key)
		}
		done <- err
	}()
	return done
}

// savingA returns a guard over a gateStore whose save of the admission of
// "a" is under way, and the channel that says how persisting "a" ended.
func savingA(t *testing.T) (*Guard, *gateStore, chan error) {
	store := newGateStore()
	g := New(clocktesting.NewFakePassiveClock(time.Now()), Options{MinBudget: 100, Window: time.Minute})
	g.UseStore(store)
	a := persistAsync(t, g, store, "a")
	wait(t, store.entered, "a's save")
	return g, store, a
}

// A change made while a save is under way is not in that save: its caller
// waits for the next one.
func TestPersistWaitsForASaveThatHoldsItsChange(t *testing.T) {
	g, store, a := savingA(t)
	b := persistAsync(t, g, store, "b")
	store.release <- nil
	if err := wait(t, a, "a"); err != nil {
		t.Fatal(err)
	}
	wait(t, store.entered, "a second save, for b")
	store.release <- nil
	if err := wait(t, b, "b"); err != nil {
		t.Fatal(err)
	}
	if store.count() != 2 {
		t.Errorf("saves = %d, want 2", store.count())
	}
}

// Transitions admitted while a save is under way share the next save; a
// failed save is reported, and none is reported persisted before a save
// that holds it succeeded.
func TestPersistSharesSaves(t *testing.T) {
	g, store, first := savingA(t)
	var later []chan error
	for i := range 8 {
		later = append(later, persistAsync(t, g, store, fmt.Sprintf("b%d", i)))
	}
	store.release <- errors.New("the API server is away")
	if err := wait(t, first, "a"); err == nil {
		t.Fatal("a failed save was reported as persisted")
	}
	wait(t, store.entered, "one save for all that waited")
	store.release <- nil
	for i, done := range later {
		if err := wait(t, done, fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if store.count() != 1 || !store.stored("a") {
		t.Errorf("saves = %d, a stored %v; want one save that holds a too", store.count(), store.stored("a"))
	}
	if !g.Admit("a", 0) { // a retry: already in the window and in the store
		t.Fatal("a retry was held")
	}
	if err := g.Persist(context.Background()); err != nil || store.count() != 1 || len(store.entered) != 0 {
		t.Errorf("a retry with nothing new wrote again: saves = %d, err = %v", store.count(), err)
	}
}

// panicStore panics on its first save.
type panicStore struct{ memStore }

func (s *panicStore) Save(ctx context.Context, w []Admission) error {
	if s.window == nil {
		s.window = []Admission{}
		panic("the store broke")
	}
	return s.memStore.Save(ctx, w)
}

// A store that panics (a reconciler's panic is recovered) leaves the guard
// able to save again.
func TestPersistAfterAPanickingSave(t *testing.T) {
	store := &panicStore{}
	g := New(clocktesting.NewFakePassiveClock(time.Now()), Options{MinBudget: 100, Window: time.Minute})
	g.UseStore(store)
	g.Admit("a", 0)
	func() {
		defer func() { _ = recover() }()
		_ = g.Persist(context.Background())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Persist(ctx); err != nil {
		t.Fatalf("the guard did not recover from a panicking save: %v", err)
	}
	if len(store.window) != 1 || store.window[0].Key != "a" {
		t.Errorf("stored %v, want a", store.window)
	}
}
