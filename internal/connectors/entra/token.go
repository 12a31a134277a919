package entra

import (
	"context"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7515 section 4.1.7).
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// credential is the app registration's client id and either its
// certificate's key or its client secret.
type credential struct {
	clientID string
	secret   string
	key      *rsa.PrivateKey
	x5t      string // base64url SHA-1 thumbprint of the certificate's DER
	x5tS256  string // base64url SHA-256 thumbprint
	// redact are the values that never appear in an error.
	redact []string
}

// parseCredentials reads the Secret's data. Its errors name keys, never
// values.
func parseCredentials(data map[string][]byte) (*credential, error) {
	cr := &credential{clientID: strings.TrimSpace(string(data[KeyClientID]))}
	if cr.clientID == "" {
		return nil, fmt.Errorf("the credentials Secret has no %q", KeyClientID)
	}
	certPEM, keyPEM := data[KeyCertificate], data[KeyPrivateKey]
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		if len(certPEM) == 0 || len(keyPEM) == 0 {
			return nil, fmt.Errorf("the credentials Secret has only one of %q and %q: a certificate credential needs both", KeyCertificate, KeyPrivateKey)
		}
		cr.redact = append(cr.redact, string(keyPEM), strings.TrimSpace(string(keyPEM)))
		return cr, cr.loadCertificate(certPEM, keyPEM)
	}
	cr.secret = strings.TrimSpace(string(data[KeyClientSecret]))
	if cr.secret == "" {
		return nil, fmt.Errorf("the credentials Secret has neither %q and %q nor %q", KeyCertificate, KeyPrivateKey, KeyClientSecret)
	}
	cr.redact = append(cr.redact, cr.secret, url.QueryEscape(cr.secret))
	return cr, nil
}

// loadCertificate finds, among the PEM certificates, the one whose public
// key is the private key's, and computes its thumbprints.
func (cr *credential) loadCertificate(certPEM, keyPEM []byte) error {
	key, err := parseRSAKey(keyPEM)
	if err != nil {
		return err
	}
	if key.N.BitLen() < 2048 {
		return fmt.Errorf("the %q is an RSA key of %d bits: Entra ID needs 2048 or more", KeyPrivateKey, key.N.BitLen())
	}
	found := false
	for rest := certPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		found = true
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("the %q holds a certificate that does not parse: %w", KeyCertificate, err)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&key.PublicKey) {
			sha := sha1.Sum(cert.Raw) //nolint:gosec // see import.
			s256 := sha256.Sum256(cert.Raw)
			cr.key = key
			cr.x5t = base64.RawURLEncoding.EncodeToString(sha[:])
			cr.x5tS256 = base64.RawURLEncoding.EncodeToString(s256[:])
			return nil
		}
	}
	if !found {
		return fmt.Errorf("the %q holds no PEM CERTIFICATE block", KeyCertificate)
	}
	return fmt.Errorf("no certificate in %q is the one of the key in %q: put the app's certificate and its own key in the Secret", KeyCertificate, KeyPrivateKey)
}

// parseRSAKey reads an unencrypted RSA key, PKCS #1 or PKCS #8. The parse
// errors of x509 are not passed on.
func parseRSAKey(keyPEM []byte) (*rsa.PrivateKey, error) {
	for rest := keyPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
				return k, nil
			}
			return nil, fmt.Errorf("the %q RSA PRIVATE KEY block does not parse", KeyPrivateKey)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the %q PRIVATE KEY block does not parse", KeyPrivateKey)
			}
			if rk, ok := k.(*rsa.PrivateKey); ok {
				return rk, nil
			}
			return nil, fmt.Errorf("the %q is not an RSA key: Entra ID certificate credentials are RSA", KeyPrivateKey)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("the %q is encrypted: store it unencrypted in the Secret", KeyPrivateKey)
		}
	}
	return nil, fmt.Errorf("the %q holds no PEM private key", KeyPrivateKey)
}

// assertion is the client assertion for the token endpoint aud, naming the
// certificate by thumbprint, valid for five minutes.
func (cr *credential) assertion(aud string, now time.Time) (string, error) {
	return connectors.ClientAssertion(cr.key, map[string]string{"x5t": cr.x5t, "x5t#S256": cr.x5tS256}, cr.clientID, aud, now, 5*time.Minute)
}

// cacheKey names a system's token: its identity and a hash of everything
// the token depends on, so that a rotated credential gets a new token.
func cacheKey(system *accessv1alpha1.ConnectedSystem, tokenURL, scope string, data map[string][]byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(tokenURL), []byte(scope), data[KeyClientID], data[KeyCertificate],
		data[KeyPrivateKey], data[KeyClientSecret]} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return string(system.UID) + "/" + system.Name + "/" + hex.EncodeToString(h.Sum(nil))
}

// maxCachedTokens bounds the cache; expired tokens go first.
const maxCachedTokens = 256

// tokenCache holds access tokens until shortly before they expire.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	token   string
	refresh time.Time
}

func (c *tokenCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !time.Now().Before(e.refresh) {
		return "", false
	}
	return e.token, true
}

// put keeps token for ttl less a margin of a quarter of it, at most five
// minutes.
func (c *tokenCache) put(key, token string, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.m == nil {
		c.m = map[string]cachedToken{}
	}
	for k, e := range c.m {
		if !now.Before(e.refresh) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < maxCachedTokens {
			break
		}
		delete(c.m, k)
	}
	c.m[key] = cachedToken{token: token, refresh: now.Add(ttl - min(5*time.Minute, ttl/4))}
}

// drop forgets key's token if it is still token.
func (c *tokenCache) drop(key, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key].token == token {
		delete(c.m, key)
	}
}

// token returns the cached access token, or a new one.
func (g *graph) token(ctx context.Context) (string, error) {
	if tok, ok := g.c.tokens.get(g.cacheKey); ok {
		g.secrets = append(g.secrets, tok)
		return tok, nil
	}
	tok, ttl, err := g.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	g.secrets = append(g.secrets, tok)
	g.c.tokens.put(g.cacheKey, tok, ttl)
	return tok, nil
}

// fetchToken asks the token endpoint for an app-only token, waiting out
// throttling and transient outages a few times.
func (g *graph) fetchToken(ctx context.Context) (string, time.Duration, error) {
	for retries := 0; ; {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {g.cred.clientID}, "scope": {g.scope}}
		if g.cred.key != nil {
			a, err := g.cred.assertion(g.tokenURL, time.Now())
			if err != nil {
				return "", 0, err
			}
			g.secrets = append(g.secrets, a)
			form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			form.Set("client_assertion", a)
		} else {
			form.Set("client_secret", g.cred.secret)
		}
		resp, err := g.roundTrip(ctx, http.MethodPost, g.tokenURL, []byte(form.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if err != nil {
			return "", 0, err
		}
		if resp.status == http.StatusOK {
			return parseToken(resp.body)
		}
		if retryable(resp.status) && retries < maxRetries && backoff(ctx, resp.header, retries) {
			retries++
			continue
		}
		return "", 0, tokenError(resp, g.secrets)
	}
}

func parseToken(body []byte) (string, time.Duration, error) {
	var t struct {
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
		TokenType   string      `json:"token_type"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", 0, errors.New("the token endpoint answered 200 without an access_token")
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer") {
		return "", 0, fmt.Errorf("the token endpoint issued a %q token, not a Bearer token", t.TokenType)
	}
	ttl := 10 * time.Minute
	if secs, err := t.ExpiresIn.Int64(); err == nil && secs > 0 {
		ttl = time.Duration(secs) * time.Second
	}
	return t.AccessToken, ttl, nil
}
