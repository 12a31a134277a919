package ssftx

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestOneReceiverCannotTakeEverySlot: long polls hold their request slot
// while they wait; one receiver's polls must leave room for the others.
func TestOneReceiverCannotTakeEverySlot(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Limits.MaxConcurrent = 8; c.Limits.LongPollTimeout = 3 * time.Second })
	cfg := f.createStream(aliceToken, "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { f.do(http.MethodPost, PathPollBase+cfg.StreamID, aliceToken, map[string]any{}) })
	}
	time.Sleep(500 * time.Millisecond)
	code, body := f.do(http.MethodGet, PathStream, bobToken, nil)
	wg.Wait()
	if code != http.StatusOK {
		t.Fatalf("bob, while alice long-polls: %d %s", code, body)
	}
}
