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

// gateStore is a Store whose saves wait for the test and can fail.
type gateStore struct {
	mu      sync.Mutex
	window  []Admission
	saves   int
	entered chan struct{}
	release chan error
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

// Transitions admitted while a save is under way share the next save, and
// none is reported persisted before a save that holds it succeeded.
func TestPersistSharesSaves(t *testing.T) {
	ctx := context.Background()
	store := &gateStore{entered: make(chan struct{}), release: make(chan error)}
	g := New(clocktesting.NewFakePassiveClock(time.Now()), Options{MinBudget: 100, Window: time.Minute})
	g.UseStore(store)
	persist := func(key string) chan error {
		done := make(chan error, 1)
		if !g.Admit(key, 0) {
			t.Fatalf("%s was held", key)
		}
		go func() {
			err := g.Persist(ctx)
			if err == nil && !store.stored(key) {
				err = fmt.Errorf("%s reported persisted before the store held it", key)
			}
			done <- err
		}()
		return done
	}

	first := persist("a")
	<-store.entered // a's save is under way
	var later []chan error
	for i := range 8 {
		later = append(later, persist(fmt.Sprintf("b%d", i)))
	}
	store.release <- errors.New("the API server is away")
	if err := <-first; err == nil {
		t.Fatal("a failed save was reported as persisted")
	}
	<-store.entered // one save for all that waited, a's admission included
	store.release <- nil
	for _, done := range later {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if store.saves != 1 || !store.stored("a") {
		t.Errorf("saves = %d, a stored %v; want one save that holds a too", store.saves, store.stored("a"))
	}
	if !g.Admit("a", 0) { // a retry: already in the window and in the store
		t.Fatal("a retry was held")
	}
	if err := g.Persist(ctx); err != nil || store.saves != 1 {
		t.Errorf("a retry with nothing new wrote again: saves = %d, err = %v", store.saves, err)
	}
}
