// Package ssftx makes Portcullis an OpenID Shared Signals Framework (SSF 1.0)
// transmitter: it publishes its metadata and signing keys, lets receivers
// manage their streams through the SSF stream management API behind bearer
// tokens, queues the contractor transitions it announces in a durable outbox
// (one Secret per stream, in the API server) and delivers them by push
// (RFC 8935) or lets receivers poll them (RFC 8936).
//
// An event leaves the outbox only once the receiver acknowledged it (a 202
// to a push, an ack in a poll) or refused it (a 400 with an RFC 8935 error),
// so a restart or an outage loses nothing; its jti is derived from the
// transition, so a retried Announce adds nothing twice and a receiver that
// sees a SET twice recognises it.
package ssftx

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Limits.
const (
	DefaultMaxBodyBytes        = 64 << 10
	DefaultMaxStreams          = 8
	DefaultMaxSubjects         = 1000
	DefaultMaxConcurrent       = 32
	DefaultMaxOutbox           = 2000
	DefaultMaxOutboxBytes      = 768 << 10
	DefaultMaxDelivered        = 1000
	DefaultSecretRefresh       = 10 * time.Second
	DefaultBackoffInitial      = time.Second
	DefaultBackoffMax          = 5 * time.Minute
	DefaultRescanInterval      = 30 * time.Second
	DefaultPushTimeout         = 10 * time.Second
	DefaultLongPollTimeout     = 30 * time.Second
	DefaultMaxPollEvents       = 100
	MaxReasonBytes             = 256
	maxTransitionIDBytes       = 1024
	defaultLongPollRecheckTime = time.Second
)

// Limits bound what receivers and announcements can make the transmitter
// hold or do. Zero values mean the defaults.
type Limits struct {
	// MaxBodyBytes bounds a request body. Default 64 KiB.
	MaxBodyBytes int64
	// MaxStreams bounds the streams of one receiver. Default 8.
	MaxStreams int
	// MaxSubjects bounds the subjects added to one stream. Default 1000.
	MaxSubjects int
	// MaxConcurrent bounds the API requests handled at once; beyond it a
	// request is answered 503. One receiver may have a quarter of them
	// (at least one) in flight. Default 32.
	MaxConcurrent int
	// MaxOutbox bounds the pending events of one stream; beyond it
	// Announce fails. Default 2000.
	MaxOutbox int
	// MaxOutboxBytes bounds the estimated size of a stream's outbox, to
	// keep its Secret well under the API server's 1 MiB. Default 768 KiB.
	MaxOutboxBytes int
	// MaxDelivered bounds the recently delivered jtis kept per stream to
	// recognise a retried Announce. Default 1000.
	MaxDelivered int
	// SecretRefresh is how long the keys and tokens Secrets are cached.
	// Default 10 s.
	SecretRefresh time.Duration
	// BackoffInitial and BackoffMax bound the wait after a failed push,
	// doubling per failure. Defaults 1 s and 5 min.
	BackoffInitial, BackoffMax time.Duration
	// RescanInterval is how often the Deliverer looks for pending events
	// without being woken. Default 30 s.
	RescanInterval time.Duration
	// PushTimeout bounds one push request. Default 10 s.
	PushTimeout time.Duration
	// LongPollTimeout bounds the wait of a poll without returnImmediately.
	// Default 30 s.
	LongPollTimeout time.Duration
	// MaxPollEvents bounds the SETs of one poll response. Default 100.
	MaxPollEvents int
}

// HTTPClientOptions configure the client that pushes SETs.
type HTTPClientOptions struct {
	// RootCAs verifies receivers' certificates; nil means the system pool.
	RootCAs *x509.CertPool
	// AllowPrivateEndpoints lets push endpoints resolve to loopback and
	// private addresses. Link-local (cloud metadata), unspecified and
	// multicast addresses are refused always.
	AllowPrivateEndpoints bool
}

// Config configures a Transmitter.
type Config struct {
	// Issuer is the "iss" of every SET and the base of the endpoints'
	// URLs: https, with no query or fragment. Required.
	Issuer string
	// KeysSecret holds the signing keys: "<kid>.pem" private keys and
	// "active", the kid that signs. Required; in Namespace.
	KeysSecret types.NamespacedName
	// TokensSecret maps receiver names (keys) to their bearer tokens
	// (values). Required; in Namespace.
	TokensSecret types.NamespacedName
	// Namespace holds the Secrets and the stream Secrets. Required.
	Namespace string
	// Client writes the stream Secrets. Required.
	Client client.Client
	// Reader reads Secrets; it must not be a cache. Required.
	Reader client.Reader
	// Clock tells time. Required.
	Clock clock.Clock
	// HTTPClient configures the push client.
	HTTPClient HTTPClientOptions
	// Limits bound the work; zero values mean defaults.
	Limits Limits
	// Metrics records counters; nil records nothing.
	Metrics *Metrics
}

func (l *Limits) withDefaults() {
	setDefault(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&l.MaxStreams, DefaultMaxStreams)
	setDefault(&l.MaxSubjects, DefaultMaxSubjects)
	setDefault(&l.MaxConcurrent, DefaultMaxConcurrent)
	setDefault(&l.MaxOutbox, DefaultMaxOutbox)
	setDefault(&l.MaxOutboxBytes, DefaultMaxOutboxBytes)
	setDefault(&l.MaxDelivered, DefaultMaxDelivered)
	setDefault(&l.SecretRefresh, DefaultSecretRefresh)
	setDefault(&l.BackoffInitial, DefaultBackoffInitial)
	setDefault(&l.BackoffMax, DefaultBackoffMax)
	setDefault(&l.RescanInterval, DefaultRescanInterval)
	setDefault(&l.PushTimeout, DefaultPushTimeout)
	setDefault(&l.LongPollTimeout, DefaultLongPollTimeout)
	setDefault(&l.MaxPollEvents, DefaultMaxPollEvents)
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// validate checks cfg with errors that say what to fix.
func (cfg *Config) validate() error {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return err
	}
	if cfg.Namespace == "" {
		return errors.New("ssftx: Namespace is required: the namespace of the keys, tokens and stream Secrets")
	}
	for what, s := range map[string]types.NamespacedName{"KeysSecret": cfg.KeysSecret, "TokensSecret": cfg.TokensSecret} {
		if s.Name == "" {
			return fmt.Errorf("ssftx: %s needs a name", what)
		}
		if s.Namespace != cfg.Namespace {
			return fmt.Errorf("ssftx: %s %s must be in the namespace %q: the manager reads Secrets only there", what, s, cfg.Namespace)
		}
	}
	if cfg.KeysSecret == cfg.TokensSecret {
		return errors.New("ssftx: KeysSecret and TokensSecret must be different Secrets")
	}
	if cfg.Client == nil || cfg.Reader == nil || cfg.Clock == nil {
		return errors.New("ssftx: Client, Reader (uncached) and Clock are required")
	}
	return nil
}

func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case issuer == "":
		return errors.New("ssftx: Issuer is required, e.g. https://portcullis.example.com")
	case err != nil:
		return fmt.Errorf("ssftx: Issuer %q is not a URL: %w", issuer, err)
	case u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("ssftx: Issuer %q must be an https URL with a host", issuer)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.User != nil:
		return fmt.Errorf("ssftx: Issuer %q must have no query, fragment or user info", issuer)
	}
	return nil
}
