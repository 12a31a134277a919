package okta

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

const (
	tokenPath     = "/oauth2/v1/token"
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionTTL is the client assertion's lifetime.
	assertionTTL = 5 * time.Minute
	// maxTokenMargin is how long before its expiry a cached access token
	// is dropped, at most.
	maxTokenMargin = time.Minute
	// maxCachedTokens bounds the token cache.
	maxCachedTokens = 256
)

// oauthClient is a service app that authenticates with private_key_jwt.
type oauthClient struct {
	id    string
	keyID string
	key   *rsa.PrivateKey
}

type cachedToken struct {
	token string
	// useUntil is the token's expiry less a margin.
	useUntil time.Time
}

// useCredentials reads the credentials Secret: a service app's client id
// and private key when both are there, otherwise an API token. Errors name
// keys, never values.
func (a *api) useCredentials(system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	id := strings.TrimSpace(string(credentials[KeyClientID]))
	keyPEM := credentials[KeyPrivateKey]
	if id != "" && len(keyPEM) > 0 {
		key, err := parsePrivateKey(keyPEM)
		a.secrets = append(a.secrets, string(keyPEM), strings.TrimSpace(string(keyPEM)))
		if err != nil {
			return fmt.Errorf("%w: the credentials Secret's %q %w", connectors.ErrCredentials, KeyPrivateKey, err)
		}
		a.oauth = &oauthClient{id: id, keyID: strings.TrimSpace(string(credentials[KeyKeyID])), key: key}
		sum := sha256.New()
		// The scopes are part of the key: a token for the enforcement's
		// scopes cannot read the System Log, nor the reverse.
		for _, part := range [][]byte{[]byte(system.UID), []byte(a.base.String()), []byte(a.scopes), []byte(id), []byte(a.oauth.keyID), keyPEM} {
			sum.Write(part)
			sum.Write([]byte{0})
		}
		a.cacheKey = hex.EncodeToString(sum.Sum(nil))
		return nil
	}
	a.apiToken = strings.TrimSpace(string(credentials[KeyAPIToken]))
	if a.apiToken == "" {
		return fmt.Errorf("the credentials Secret has neither %q nor %q and %q", KeyAPIToken, KeyClientID, KeyPrivateKey)
	}
	a.secrets = append(a.secrets, a.apiToken)
	return nil
}

// parsePrivateKey reads a PEM RSA private key, PKCS#1 or PKCS#8, of at
// least 2048 bits, as Okta requires. Its errors never quote the key.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("is not PEM: paste the whole PEM block, with its BEGIN and END lines")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("is a PEM %q block, not an unencrypted RSA private key (PKCS#1 or PKCS#8)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("does not parse as a private key")
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("is not an RSA key: Okta signs client assertions with RS256")
	}
	if rsaKey.N.BitLen() < 2048 {
		return nil, fmt.Errorf("is an RSA key of %d bits: Okta needs at least 2048", rsaKey.N.BitLen())
	}
	return rsaKey, nil
}

// authorization is the Authorization header: SSWS with an API token, or
// Bearer with an access token, from the cache or newly obtained. token is
// the access token, "" for SSWS.
func (a *api) authorization(ctx context.Context) (header, token string, err error) {
	if a.oauth == nil {
		return "SSWS " + a.apiToken, "", nil
	}
	token, ok := a.c.cachedToken(a.cacheKey)
	if !ok {
		var ttl time.Duration
		if token, ttl, err = a.fetchToken(ctx); err != nil {
			return "", "", connectors.RedactSecrets(err, a.secrets...)
		}
		a.c.storeToken(a.cacheKey, token, time.Now().Add(ttl-min(maxTokenMargin, ttl/2)))
	}
	a.secrets = append(a.secrets, token)
	return "Bearer " + token, token, nil
}

// fetchToken is the client-credentials grant with private_key_jwt client
// authentication at the org authorization server.
func (a *api) fetchToken(ctx context.Context) (string, time.Duration, error) {
	audience := a.base.String() + tokenPath
	form := func() (url.Values, error) {
		assertion, err := a.oauth.assertion(audience, time.Now())
		if err != nil {
			return nil, err
		}
		a.secrets = append(a.secrets, assertion)
		return url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {a.scopes},
			"client_assertion_type": {assertionType},
			"client_assertion":      {assertion},
		}, nil
	}
	resp, err := a.send(ctx, routeToken, "POST", tokenPath, form, "")
	if err != nil {
		return "", 0, fmt.Errorf("getting an access token for the service app %q: %w", a.oauth.id, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.body, &tok); err != nil || tok.AccessToken == "" {
		return "", 0, fmt.Errorf("the org's token endpoint answered without an access token")
	}
	a.secrets = append(a.secrets, tok.AccessToken)
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		return "", 0, fmt.Errorf("the org issued a %q token, not a Bearer token: clear the service app's DPoP requirement", brief(tok.TokenType))
	}
	ttl := time.Duration(tok.ExpiresIn) * time.Second
	if ttl <= 0 || ttl > 24*time.Hour {
		ttl = 5 * time.Minute
	}
	return tok.AccessToken, ttl, nil
}

// assertion is the service app's client assertion for the token endpoint.
func (o *oauthClient) assertion(audience string, now time.Time) (string, error) {
	var header map[string]string
	if o.keyID != "" {
		header = map[string]string{"kid": o.keyID}
	}
	return connectors.ClientAssertion(o.key, header, o.id, audience, now, assertionTTL)
}

func (c *Connector) cachedToken(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[key]
	if !ok || !time.Now().Before(t.useUntil) {
		delete(c.tokens, key)
		return "", false
	}
	return t.token, true
}

func (c *Connector) storeToken(key, token string, useUntil time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.tokens = map[string]cachedToken{}
	}
	if len(c.tokens) >= maxCachedTokens {
		now := time.Now()
		for k, t := range c.tokens {
			if !now.Before(t.useUntil) || len(c.tokens) >= maxCachedTokens {
				delete(c.tokens, k)
			}
		}
	}
	c.tokens[key] = cachedToken{token: token, useUntil: useUntil}
}

// dropToken forgets token, unless another call has replaced it already.
func (c *Connector) dropToken(key, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[key]; ok && t.token == token {
		delete(c.tokens, key)
	}
}
