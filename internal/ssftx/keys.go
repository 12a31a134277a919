package ssftx

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// activeKey is the data key of the keys Secret naming the kid that signs.
const activeKey = "active"

// pemSuffix ends the data key of each private key: "<kid>.pem".
const pemSuffix = ".pem"

// keyring is the signing keys of one Secret, read again at most every
// refresh. A failed read is remembered for refresh too.
type keyring struct {
	reader  client.Reader
	secret  types.NamespacedName
	refresh time.Duration
	clock   clock.PassiveClock

	mu       sync.Mutex
	loaded   *keySet
	readAt   time.Time
	failed   error
	failedAt time.Time
}

// keySet is one reading of the keys Secret.
type keySet struct {
	active jwk.Key // private
	jwks   []byte  // public keys only
}

func (k *keyring) get(ctx context.Context) (*keySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock.Now()
	if k.loaded != nil && now.Sub(k.readAt) < k.refresh {
		return k.loaded, nil
	}
	if k.failed != nil && now.Sub(k.failedAt) < k.refresh {
		return nil, k.failed
	}
	var secret corev1.Secret
	if err := k.reader.Get(ctx, k.secret, &secret); err != nil {
		k.failed, k.failedAt = fmt.Errorf("reading the signing keys Secret %s: %w", k.secret, err), now
		return nil, k.failed
	}
	set, err := parseKeySet(secret.Data)
	if err != nil {
		k.failed, k.failedAt = fmt.Errorf("signing keys Secret %s: %w", k.secret, err), now
		return nil, k.failed
	}
	k.failed, k.loaded, k.readAt = nil, set, now
	return set, nil
}

// parseKeySet reads every "<kid>.pem" key and picks the active one. Its
// errors name data keys, never key material.
func parseKeySet(data map[string][]byte) (*keySet, error) {
	keys := map[string]jwk.Key{}
	for name, value := range data {
		kid, ok := strings.CutSuffix(name, pemSuffix)
		if !ok {
			continue
		}
		if kid == "" {
			return nil, fmt.Errorf("data key %q: the kid before %s is empty", name, pemSuffix)
		}
		key, err := parsePrivateKey(kid, value)
		if err != nil {
			return nil, fmt.Errorf("data key %q: %w", name, err)
		}
		keys[kid] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no signing key: add a data key <kid>%s with a PEM private key (RSA ≥ 2048 bits, EC P-256 or P-384, Ed25519)", pemSuffix)
	}
	kid, err := activeKID(data, keys)
	if err != nil {
		return nil, err
	}
	jwks, err := publicJWKS(keys)
	if err != nil {
		return nil, err
	}
	return &keySet{active: keys[kid], jwks: jwks}, nil
}

func activeKID(data map[string][]byte, keys map[string]jwk.Key) (string, error) {
	raw, ok := data[activeKey]
	if !ok {
		if len(keys) == 1 {
			for kid := range keys {
				return kid, nil
			}
		}
		return "", fmt.Errorf("%d keys and no %q data key: set %q to the kid that signs", len(keys), activeKey, activeKey)
	}
	kid := strings.TrimSpace(string(raw))
	if _, ok := keys[kid]; !ok {
		return "", fmt.Errorf("%q names kid %q but there is no data key %q", activeKey, kid, kid+pemSuffix)
	}
	return kid, nil
}

// parsePrivateKey decodes one PEM private key and gives it its kid and alg.
func parsePrivateKey(kid string, value []byte) (jwk.Key, error) {
	block, rest := pem.Decode(value)
	if block == nil || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("not exactly one PEM block")
	}
	raw, err := parseDER(block)
	if err != nil {
		return nil, err
	}
	alg, err := algorithmOf(raw)
	if err != nil {
		return nil, err
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, errors.New("the key cannot be used as a JWK")
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	return key, nil
}

func parseDER(block *pem.Block) (any, error) {
	switch block.Type {
	case "PRIVATE KEY":
		if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return k, nil
		}
	case "RSA PRIVATE KEY":
		if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return k, nil
		}
	case "EC PRIVATE KEY":
		if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return k, nil
		}
	default:
		return nil, fmt.Errorf("PEM type %q is not a private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	return nil, fmt.Errorf("the %s block cannot be parsed", block.Type)
}

// algorithmOf is the JWS algorithm a key signs with, refusing weak keys.
func algorithmOf(raw any) (string, error) {
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key of %d bits: use at least 2048", k.N.BitLen())
		}
		return "RS256", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		}
		return "", errors.New("EC key on an unsupported curve: use P-256 or P-384")
	case ed25519.PrivateKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("unsupported key type %T: use RSA, EC P-256/P-384 or Ed25519", raw)
}

// publicJWKS is the JSON JWKS of the keys' public halves, sorted by kid.
func publicJWKS(keys map[string]jwk.Key) ([]byte, error) {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	set := jwk.NewSet()
	for _, kid := range kids {
		pub, err := jwk.PublicKeyOf(keys[kid])
		if err != nil {
			return nil, fmt.Errorf("public key of kid %q: %w", kid, err)
		}
		if err := set.AddKey(pub); err != nil {
			return nil, fmt.Errorf("adding kid %q: %w", kid, err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encoding the JWKS: %w", err)
	}
	return b, nil
}
