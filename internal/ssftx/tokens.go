package ssftx

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// receivers are the receivers allowed to manage streams: the keys of one
// Secret, each valued with its bearer token, as internal/ingest keeps its
// tokens: only SHA-256 digests are held, compared in constant time, and the
// Secret is read again at most every refresh (a failed read is remembered
// for refresh too). A receiver's token rotates by changing its value; a
// token two receivers share is refused for both.
type receivers struct {
	reader  client.Reader
	secret  types.NamespacedName
	refresh time.Duration
	clock   clock.PassiveClock

	mu       sync.Mutex
	entries  []receiverEntry
	readAt   time.Time
	failed   error
	failedAt time.Time
}

type receiverEntry struct {
	name   string
	digest [sha256.Size]byte
}

// lookup returns the name of the receiver whose token this is, or "". It
// looks at every entry whatever matches, so its time says nothing about the
// token. An error means the Secret could not be read.
func (r *receivers) lookup(ctx context.Context, token string) (string, error) {
	entries, err := r.load(ctx)
	if err != nil || token == "" {
		return "", err
	}
	given := sha256.Sum256([]byte(token))
	name := ""
	for _, e := range entries {
		if subtle.ConstantTimeCompare(given[:], e.digest[:]) == 1 {
			name = e.name
		}
	}
	return name, nil
}

func (r *receivers) load(ctx context.Context) ([]receiverEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	if !r.readAt.IsZero() && now.Sub(r.readAt) < r.refresh {
		return r.entries, nil
	}
	if r.failed != nil && now.Sub(r.failedAt) < r.refresh {
		return nil, r.failed
	}
	var secret corev1.Secret
	if err := r.reader.Get(ctx, r.secret, &secret); err != nil {
		r.failed, r.failedAt = fmt.Errorf("reading the receiver tokens Secret %s: %w", r.secret, err), now
		return nil, r.failed
	}
	r.failed = nil
	entries := make([]receiverEntry, 0, len(secret.Data))
	for name, v := range secret.Data {
		token := strings.TrimSpace(string(v))
		// The name becomes a label value; a key that cannot be one is
		// not a receiver (validReceiverName says why, for people).
		if token == "" || validReceiverName(name) != nil {
			continue
		}
		entries = append(entries, receiverEntry{name: name, digest: sha256.Sum256([]byte(token))})
	}
	// A token two receivers share names neither: which one it stood for
	// would depend on map order, and each would see the other's streams.
	uses := map[[sha256.Size]byte]int{}
	for _, e := range entries {
		uses[e.digest]++
	}
	entries = slices.DeleteFunc(entries, func(e receiverEntry) bool { return uses[e.digest] > 1 })
	r.entries, r.readAt = entries, now
	return entries, nil
}

// validReceiverName reports why a tokens Secret key cannot name a receiver.
func validReceiverName(name string) error {
	if errs := validation.IsValidLabelValue(name); len(errs) > 0 || name == "" {
		return fmt.Errorf("receiver name %q must be a non-empty label value (63 characters, alphanumeric, '-', '_', '.')", name)
	}
	return nil
}
