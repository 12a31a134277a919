package ingest

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the endpoint's limits.
const (
	// DefaultMaxBodyBytes bounds a request's body: 8 MiB.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxConcurrentRequests is how many requests are read or
	// ingested at once.
	DefaultMaxConcurrentRequests = 4
	// DefaultMaxInflightBytes bounds the body bytes of the requests
	// admitted at once: 32 MiB, four requests of the largest size.
	DefaultMaxInflightBytes = 32 << 20
	// DefaultRate is the requests per second each token may send on
	// average, and DefaultBurst how many it may send at once.
	DefaultRate  = 5
	DefaultBurst = 10
	// DefaultBodyTimeout is how long an admitted request may take to send
	// its body: 8 MiB at about 600 KiB/s.
	DefaultBodyTimeout = 15 * time.Second
	// DefaultAdmissionWait is how long a request waits for a free slot
	// before it is refused with 503.
	DefaultAdmissionWait = 500 * time.Millisecond
)

// tokenLimits rate-limits each token by its digest. It keeps limiters only
// for tokens that are valid: the tokens come from one Secret, so the map
// stays as small as the Secret.
type tokenLimits struct {
	limit rate.Limit
	burst int

	mu       sync.Mutex
	byDigest map[digest]*rate.Limiter
}

// newTokenLimits allows perSecond requests a second and burst at once per
// token; perSecond <= 0 allows any number.
func newTokenLimits(perSecond float64, burst int) *tokenLimits {
	limit := rate.Limit(perSecond)
	if perSecond <= 0 {
		limit = rate.Inf
	}
	return &tokenLimits{limit: limit, burst: max(burst, 1), byDigest: map[digest]*rate.Limiter{}}
}

// reserve takes one request from the budget of the token with digest d at
// now: zero when the request may go ahead, else how long until it may be
// sent again (and nothing is taken). valid are the digests of the tokens
// valid now; the limiters of the others are dropped.
func (l *tokenLimits) reserve(d digest, valid []digest, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.byDigest[d]
	if lim == nil {
		if len(l.byDigest) >= len(valid) {
			l.keepOnly(valid)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byDigest[d] = lim
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() { // one request over the burst: not with a burst of at least one
		return time.Second
	}
	delay := r.DelayFrom(now)
	if delay > 0 {
		r.CancelAt(now)
	}
	return delay
}

func (l *tokenLimits) keepOnly(valid []digest) {
	keep := make(map[digest]bool, len(valid))
	for _, d := range valid {
		keep[d] = true
	}
	for d := range l.byDigest {
		if !keep[d] {
			delete(l.byDigest, d)
		}
	}
}
