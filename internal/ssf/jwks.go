package ssf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"k8s.io/utils/clock"
)

// Bounds and defaults of a JWKS key source.
const (
	// DefaultRefreshInterval is the least time between two JWKS fetches.
	DefaultRefreshInterval = time.Minute
	// DefaultFetchTimeout bounds one JWKS fetch.
	DefaultFetchTimeout = 10 * time.Second
	// MaxJWKSBytes bounds a JWKS response body.
	MaxJWKSBytes = 256 << 10
	// MaxJWKSKeys bounds the number of keys in a JWKS.
	MaxJWKSKeys = 100
)

// KeySource finds the public key a transmitter signed with.
type KeySource interface {
	// Key returns the verification key with the given kid. It returns
	// ErrUnknownKey (wrapped) when there is none, and ErrKeysUnavailable
	// (wrapped) when the keys could not be obtained.
	Key(ctx context.Context, kid string) (jwk.Key, error)
}

// StaticKeySource is a fixed set of keys by kid, for tests and for a
// transmitter publishing its own keys.
type StaticKeySource struct {
	keys map[string]jwk.Key
}

// NewStaticKeySource indexes the keys by kid, keeping public keys only.
// Every key needs a unique kid and must be usable for signatures.
func NewStaticKeySource(keys ...jwk.Key) (*StaticKeySource, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("adding key: %w", err)
		}
	}
	idx, err := indexKeys(set)
	if err != nil {
		return nil, err
	}
	return &StaticKeySource{keys: idx}, nil
}

// Key implements KeySource.
func (s *StaticKeySource) Key(_ context.Context, kid string) (jwk.Key, error) {
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// JWKSConfig configures a JWKS key source.
type JWKSConfig struct {
	// URL is the transmitter's jwks_uri; it must be https.
	URL string
	// Client makes the requests; it carries the TLS configuration. Required.
	Client *http.Client
	// Clock tells time for the refresh rate limit. Required.
	Clock clock.PassiveClock
	// RefreshInterval is the least time between fetches; default 1 minute.
	RefreshInterval time.Duration
	// Timeout bounds one fetch; default 10 seconds.
	Timeout time.Duration
}

// JWKS is a KeySource that fetches a JWKS over HTTPS and caches it. An
// unknown kid triggers a refetch, at most once per RefreshInterval whatever
// the outcome, so that a flood of made-up kids costs one fetch per interval;
// a transmitter that rotated its keys is picked up on the first SET signed
// with the new key once the interval has passed. A known kid never waits
// for a fetch; concurrent misses share one. The fetch does not end with the
// request that caused it (only with Timeout), so a caller that hangs up
// cannot make a failure that would hold new keys out for an interval.
// Redirects are followed to https URLs only. Safe for concurrent use.
type JWKS struct {
	cfg    JWKSConfig
	client *http.Client

	mu        sync.RWMutex
	keys      map[string]jwk.Key
	lastFetch time.Time // zero before the first attempt
	lastErr   error

	fetching sync.Mutex // one fetch at a time
}

// NewJWKS checks the configuration and fills in defaults. It does not fetch.
func NewJWKS(cfg JWKSConfig) (*JWKS, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("jwks: URL must be an absolute https URL")
	}
	if cfg.Client == nil || cfg.Clock == nil {
		return nil, errors.New("jwks: Client and Clock are required")
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	client := *cfg.Client
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errors.New("the JWKS URL redirects to a URL that is not https")
		}
		if len(via) >= 3 {
			return errors.New("the JWKS URL redirects more than 3 times")
		}
		return nil
	}
	return &JWKS{cfg: cfg, client: &client}, nil
}

// Key implements KeySource.
func (j *JWKS) Key(ctx context.Context, kid string) (jwk.Key, error) {
	j.mu.RLock()
	k, ok := j.keys[kid]
	j.mu.RUnlock()
	if ok {
		return k, nil
	}
	j.fetching.Lock()
	defer j.fetching.Unlock()
	j.mu.RLock()
	k, ok = j.keys[kid] // a fetch that ended while this call waited
	last, lastErr := j.lastFetch, j.lastErr
	j.mu.RUnlock()
	if ok {
		return k, nil
	}
	now := j.cfg.Clock.Now()
	if last.IsZero() || now.Sub(last) >= j.cfg.RefreshInterval || now.Before(last) {
		keys, err := j.fetch(context.WithoutCancel(ctx))
		j.mu.Lock()
		j.lastFetch, j.lastErr, lastErr = now, err, err
		if err == nil {
			j.keys = keys
		}
		k, ok = j.keys[kid]
		j.mu.Unlock()
		if ok {
			return k, nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, lastErr)
	}
	return nil, ErrUnknownKey
}

// fetch gets and indexes the JWKS, bounded in time, size and key count.
func (j *JWKS) fetch(ctx context.Context) (map[string]jwk.Key, error) {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		// The URL's error without the URL, which may carry a query.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", MaxJWKSBytes)
	}
	set, err := jwk.Parse(body, jwk.WithRejectDuplicateKID(true))
	if err != nil {
		return nil, errors.New("JWKS is not a valid JWK set")
	}
	return indexKeys(set)
}

// indexKeys keeps the public signing keys of a set by kid: keys with no
// "use" or "use":"sig", asymmetric, with a kid. At most MaxJWKSKeys keys;
// a duplicate kid is refused, since it would make the key ambiguous.
func indexKeys(set jwk.Set) (map[string]jwk.Key, error) {
	if set.Len() > MaxJWKSKeys {
		return nil, fmt.Errorf("JWKS has more than %d keys", MaxJWKSKeys)
	}
	out := make(map[string]jwk.Key, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, ok := k.KeyID()
		if !ok || kid == "" || !isSigningKey(k) {
			continue
		}
		if _, dup := out[kid]; dup {
			return nil, fmt.Errorf("JWKS has two keys with kid %q", truncate(kid))
		}
		pub, err := jwk.PublicKeyOf(k)
		if err != nil {
			return nil, fmt.Errorf("key %q has no public key", truncate(kid))
		}
		out[kid] = pub
	}
	return out, nil
}

func isSigningKey(k jwk.Key) bool {
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return false
	}
	// A symmetric key would let anyone who knows it (every receiver) sign.
	return k.KeyType() != jwa.OctetSeq()
}
