package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Tokens are the bearer tokens that may send sign-ins: every value of one
// Secret, so tokens rotate by adding the new one, switching the senders
// and removing the old one. The Secret is read again at most every
// Refresh, so a change takes effect within it; a failed read is also
// remembered for Refresh, so a missing Secret does not cost an API request
// per sign-in request.
type Tokens struct {
	Reader  client.Reader
	Secret  types.NamespacedName
	Refresh time.Duration
	Clock   clock.PassiveClock

	mu      sync.Mutex
	digests []digest
	readAt  time.Time
	// failed is the last failed read, kept until failedAt+Refresh.
	failed   error
	failedAt time.Time
}

// digest is a token's SHA-256 digest: the form in which tokens are kept,
// compared and rate-limited, never the token itself.
type digest = [sha256.Size]byte

// Valid reports whether token is one of the Secret's values. It compares
// digests in constant time and looks at every token, so the time it takes
// says nothing about how close a guess was. An error means the Secret
// could not be read.
func (t *Tokens) Valid(ctx context.Context, token string) (bool, error) {
	_, _, ok, err := t.check(ctx, token)
	return ok, err
}

// check is Valid that also returns the token's digest and the digests of
// every token valid now.
func (t *Tokens) check(ctx context.Context, token string) (given digest, valid []digest, ok bool, err error) {
	digests, err := t.load(ctx)
	if err != nil {
		return given, nil, false, err
	}
	given = sha256.Sum256([]byte(token))
	match := 0
	for _, d := range digests {
		match |= subtle.ConstantTimeCompare(given[:], d[:])
	}
	return given, digests, match == 1 && token != "", nil
}

func (t *Tokens) load(ctx context.Context) ([]digest, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Clock.Now()
	if !t.readAt.IsZero() && now.Sub(t.readAt) < t.Refresh {
		return t.digests, nil
	}
	if t.failed != nil && now.Sub(t.failedAt) < t.Refresh {
		return nil, t.failed
	}
	var secret corev1.Secret
	if err := t.Reader.Get(ctx, t.Secret, &secret); err != nil {
		t.failed, t.failedAt = fmt.Errorf("reading the token Secret %s: %w", t.Secret, err), now
		return nil, t.failed
	}
	t.failed = nil
	// A new slice: callers may still be reading the previous one.
	digests := make([]digest, 0, len(secret.Data))
	for _, v := range secret.Data {
		if token := strings.TrimSpace(string(v)); token != "" {
			digests = append(digests, sha256.Sum256([]byte(token)))
		}
	}
	t.digests, t.readAt = digests, now
	return t.digests, nil
}
