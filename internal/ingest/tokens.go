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
// Refresh, so a change takes effect within it.
type Tokens struct {
	Reader  client.Reader
	Secret  types.NamespacedName
	Refresh time.Duration
	Clock   clock.PassiveClock

	mu      sync.Mutex
	digests [][sha256.Size]byte
	readAt  time.Time
}

// Valid reports whether token is one of the Secret's values. It compares
// digests in constant time and looks at every token, so the time it takes
// says nothing about how close a guess was. An error means the Secret
// could not be read.
func (t *Tokens) Valid(ctx context.Context, token string) (bool, error) {
	digests, err := t.load(ctx)
	if err != nil {
		return false, err
	}
	given := sha256.Sum256([]byte(token))
	match := 0
	for _, d := range digests {
		match |= subtle.ConstantTimeCompare(given[:], d[:])
	}
	return match == 1 && token != "", nil
}

func (t *Tokens) load(ctx context.Context) ([][sha256.Size]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Clock.Now()
	if !t.readAt.IsZero() && now.Sub(t.readAt) < t.Refresh {
		return t.digests, nil
	}
	var secret corev1.Secret
	if err := t.Reader.Get(ctx, t.Secret, &secret); err != nil {
		return nil, fmt.Errorf("reading the token Secret %s: %w", t.Secret, err)
	}
	// A new slice: callers may still be reading the previous one.
	digests := make([][sha256.Size]byte, 0, len(secret.Data))
	for _, v := range secret.Data {
		if token := strings.TrimSpace(string(v)); token != "" {
			digests = append(digests, sha256.Sum256([]byte(token)))
		}
	}
	t.digests, t.readAt = digests, now
	return t.digests, nil
}
