package connectorstest

import (
	"sync"
	"time"
)

// OffsetClock is the real time plus an offset that a test moves forward,
// for the fakes' Now: tokens and certificates expire as the test says,
// while TLS and timers still run on real time.
type OffsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the real time plus the offset.
func (c *OffsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *OffsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
