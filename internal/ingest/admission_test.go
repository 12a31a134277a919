package ingest

import (
	"context"
	"testing"
	"time"
)

func tokenDigest(b byte) digest {
	var d digest
	d[0] = b
	return d
}

// hold admits a request and fails the test if it is refused.
func hold(t *testing.T, a *admission, token digest, n int64) func() {
	t.Helper()
	release, ok := a.admit(context.Background(), token, n)
	if !ok {
		t.Fatalf("token %d, %d bytes: refused", token[0], n)
	}
	return release
}

func TestAdmissionKeepsMostSlotsFromOneToken(t *testing.T) {
	a := newAdmission(8, 1<<30, 0)
	attacker := tokenDigest(1)
	hold(t, a, attacker, 1)
	hold(t, a, attacker, 1)
	if _, ok := a.admit(context.Background(), attacker, 1); ok {
		t.Fatal("one token took more than a quarter of the request slots")
	}
	for i := range 6 {
		hold(t, a, tokenDigest(byte(10+i/2)), 1)
	}
	if _, ok := a.admit(context.Background(), tokenDigest(3), smallBody+1); ok {
		t.Fatal("admitted past the request cap")
	}
}

func TestAdmissionKeepsASlotForSmallBodies(t *testing.T) {
	a := newAdmission(4, 1<<30, 0)
	for i := range 4 {
		hold(t, a, tokenDigest(byte(10+i)), 8<<20)
	}
	if _, ok := a.admit(context.Background(), tokenDigest(20), 8<<20); ok {
		t.Fatal("a large body took the slot kept for small ones")
	}
	release := hold(t, a, tokenDigest(21), smallBody)
	if _, ok := a.admit(context.Background(), tokenDigest(22), 100); ok {
		t.Fatal("two small bodies in the one slot kept for them")
	}
	release()
	hold(t, a, tokenDigest(22), 100)
}

func TestAdmissionServesTheLightestWaiterFirst(t *testing.T) {
	a := newAdmission(4, 1<<30, 5*time.Second)
	var releases []func()
	for i := range 4 {
		releases = append(releases, hold(t, a, tokenDigest(byte(10+i)), 8<<20))
	}
	hold(t, a, tokenDigest(50), 1<<10) // the slot kept for small bodies
	// Waiting: two large bodies, then a small batch, of idle tokens.
	results := make(chan byte, 3)
	wait := func(token digest, n int64) {
		release, ok := a.admit(context.Background(), token, n)
		if ok {
			results <- token[0]
			release()
		}
	}
	go wait(tokenDigest(20), 8<<20)
	go wait(tokenDigest(21), 8<<20)
	waitForWaiters(t, a, 2)
	go wait(tokenDigest(99), 1<<10)
	waitForWaiters(t, a, 3)
	releases[3]() // one slot, of token 13
	if first := <-results; first != 99 {
		t.Fatalf("the freed slot went to token %d, not to the small batch", first)
	}
}

func TestAdmissionQueueIsBoundedAndFair(t *testing.T) {
	a := newAdmission(2, 1<<30, 5*time.Second) // four waiters at most
	hold(t, a, tokenDigest(1), 8<<20)
	hold(t, a, tokenDigest(2), 8<<20)
	refused := make(chan byte, 8)
	for i := range 4 {
		go func() {
			if _, ok := a.admit(context.Background(), tokenDigest(byte(20+i)), 8<<20); !ok {
				refused <- byte(20 + i)
			}
		}()
	}
	waitForWaiters(t, a, 4)
	// A fifth large body has no place; a small one takes the place of a large one.
	if _, ok := a.admit(context.Background(), tokenDigest(30), 8<<20); ok {
		t.Fatal("a fifth waiter was queued past the bound")
	}
	go func() { _, _ = a.admit(context.Background(), tokenDigest(31), 1<<10) }()
	select {
	case evicted := <-refused:
		if evicted < 20 || evicted > 23 {
			t.Fatalf("evicted token %d", evicted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the small batch did not take a large waiter's place")
	}
}

func waitForWaiters(t *testing.T, a *admission, n int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		a.mu.Lock()
		got := len(a.waiters)
		a.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("never %d waiters", n)
}
