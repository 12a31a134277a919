package google

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// serviceAccountKey is the JSON key file Google gives for a service
// account; token_uri is read only to be ignored (see tokenURL).
type serviceAccountKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	ClientID     string `json:"client_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
}

// parseKey reads the Secret's service account key. Its errors name fields,
// never values; secrets are what must never appear in an error.
func parseKey(data []byte) (key *serviceAccountKey, secrets []string, err error) {
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: the credentials Secret has no %q", connectors.ErrCredentials, KeyServiceAccountKey)
	}
	secrets = []string{string(data), strings.TrimSpace(string(data))}
	key = &serviceAccountKey{}
	if json.Unmarshal(data, key) != nil {
		return nil, secrets, fmt.Errorf("%w: the credentials Secret's %q is not JSON: paste the whole key file that Google Cloud gave for the service account",
			connectors.ErrCredentials, KeyServiceAccountKey)
	}
	escaped, _ := json.Marshal(key.PrivateKey)
	secrets = append(secrets, key.PrivateKey, strings.TrimSpace(key.PrivateKey), strings.Trim(string(escaped), `"`))
	switch {
	case key.Type != "service_account":
		return nil, secrets, fmt.Errorf("%w: the %q is a key file of type %q, not \"service_account\"",
			connectors.ErrCredentials, KeyServiceAccountKey, brief(key.Type))
	case key.ClientEmail == "" || key.PrivateKey == "":
		return nil, secrets, fmt.Errorf("%w: the %q lacks client_email or private_key", connectors.ErrCredentials, KeyServiceAccountKey)
	}
	if err := checkRSAKey(key.PrivateKey); err != nil {
		return nil, secrets, fmt.Errorf("%w: the private_key of the %q %w", connectors.ErrCredentials, KeyServiceAccountKey, err)
	}
	return key, secrets, nil
}

// checkRSAKey accepts what golang.org/x/oauth2/jwt signs with: an
// unencrypted RSA key, PKCS #8 (as Google issues them) or PKCS #1. x509's
// errors are not passed on.
func checkRSAKey(keyPEM string) error {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return errors.New("is not PEM")
	}
	var k any
	var err error
	if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	if err != nil {
		return errors.New("does not parse as an unencrypted private key")
	}
	if _, ok := k.(*rsa.PrivateKey); !ok {
		return errors.New("is not an RSA key: Google signs service account assertions with RS256")
	}
	return nil
}

// tokenCache holds the access tokens of each system and credentials until
// shortly before they expire. It is bounded; expired tokens go first.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*oauth2.Token
}

const (
	maxCachedTokens = 256
	// maxTokenMargin is how long before its expiry a token is dropped, at
	// most (a quarter of its life when that is shorter).
	maxTokenMargin = 5 * time.Minute
)

func (c *tokenCache) get(key string) *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.m[key]; t != nil && time.Now().Before(t.Expiry) {
		return t
	}
	delete(c.m, key)
	return nil
}

func (c *tokenCache) put(key string, t *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*oauth2.Token{}
	}
	now := time.Now()
	for k, old := range c.m {
		if !now.Before(old.Expiry) || len(c.m) >= maxCachedTokens {
			delete(c.m, k)
		}
	}
	c.m[key] = t
}

// drop forgets key's token if it is still access.
func (c *tokenCache) drop(key, access string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.m[key]; t != nil && t.AccessToken == access {
		delete(c.m, key)
	}
}

// cacheKey names a system's tokens: its identity and a hash of all that a
// token depends on, so that a rotated key gets a new token.
func cacheKey(system *accessv1alpha1.ConnectedSystem, tokenURL, subject string, scopes []string, key []byte) string {
	h := sha256.New()
	for _, part := range []string{tokenURL, subject, strings.Join(scopes, " "), string(key)} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return string(system.UID) + "/" + system.Name + "/" + hex.EncodeToString(h.Sum(nil))
}

// tokenSource is one Ensure's or Check's oauth2.TokenSource: the cached
// token, or a new one from the JWT bearer grant (RFC 7523) with
// domain-wide delegation, posted to tokenURL only.
type tokenSource struct {
	a    *api
	conf *jwt.Config
	// http posts the assertion: the shared client, without redirects,
	// through a transport that records what the jwt package hides.
	http *http.Client
	rec  *recorder
}

// Token implements oauth2.TokenSource.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	if t := s.a.c.tokens.get(s.a.cacheKey); t != nil {
		s.a.useToken(t.AccessToken)
		return t, nil
	}
	s.rec.reset()
	ctx := context.WithValue(s.rec.context(), oauth2.HTTPClient, s.http)
	t, err := s.conf.TokenSource(ctx).Token()
	if err != nil {
		return nil, connectors.RedactSecrets(s.tokenError(err), s.a.secretList()...)
	}
	s.a.addSecret(t.AccessToken)
	if !strings.EqualFold(t.TokenType, "Bearer") && t.TokenType != "" {
		return nil, fmt.Errorf("the token endpoint issued a %q token, not a Bearer token", brief(t.TokenType))
	}
	life := time.Until(t.Expiry)
	if t.Expiry.IsZero() || life <= 0 || life > 24*time.Hour {
		life = 10 * time.Minute
	}
	cached := *t
	cached.Expiry = time.Now().Add(life - min(maxTokenMargin, life/4))
	s.a.c.tokens.put(s.a.cacheKey, &cached)
	s.a.useToken(cached.AccessToken)
	return &cached, nil
}

// tokenError explains a refused or failed token request: the transport's
// error (unreachable, TLS), or Google's OAuth error and description, with
// what to do.
func (s *tokenSource) tokenError(err error) error {
	if terr := s.rec.err(); terr != nil {
		return requestError(s.conf.TokenURL, terr)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("getting an access token from %s: %s", s.conf.TokenURL, brief(err.Error()))
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(re.Body, &body)
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	msg := strings.TrimSpace(fmt.Sprintf("the token endpoint %s answered %d %s: %s", s.conf.TokenURL, status,
		brief(s.a.redact(body.Error)), brief(s.a.redact(body.Description))))
	switch {
	case body.Error == "unauthorized_client" || body.Error == "access_denied":
		return fmt.Errorf("%w: the service account's client %s is not authorised for these scopes by domain-wide delegation: "+
			"in the Admin console, Security > Access and data control > API controls > Domain-wide delegation, authorise its client ID for %s: %s",
			connectors.ErrCredentials, brief(s.a.key.ClientID), strings.Join(s.conf.Scopes, ","), msg)
	case body.Error == "invalid_grant" && strings.Contains(body.Description, "email or User ID"):
		return fmt.Errorf("%w: spec.google.adminEmail %q is no user of the Workspace account: %s", connectors.ErrCredentials, s.a.subject, msg)
	case body.Error == "invalid_grant" || body.Error == "invalid_client" || status == http.StatusUnauthorized:
		return fmt.Errorf("%w: the service account key was refused (deleted or disabled key, deleted service account, or a clock far off): %s",
			connectors.ErrCredentials, msg)
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return fmt.Errorf("%w: %s", connectors.ErrUnreachable, msg)
	}
	return errors.New(msg)
}

// recorder is the transport of token requests. The jwt package formats
// transport errors with %v, so it keeps the last one for classification;
// it records each assertion sent, for redaction; and it binds the request
// to the call's context, which the jwt package does not pass on.
type recorder struct {
	base http.RoundTripper
	a    *api

	mu      sync.Mutex
	ctx     context.Context
	lastErr error
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = nil
}

func (r *recorder) context() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

func (r *recorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			raw, _ := io.ReadAll(io.LimitReader(body, maxBody))
			_ = body.Close()
			if form, err := url.ParseQuery(string(raw)); err == nil {
				r.a.addSecret(form.Get("assertion"))
			}
		}
	}
	req = req.WithContext(r.context())
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		return nil, err
	}
	resp.Body = limitBody(resp.Body)
	return resp, nil
}

// brief shortens text from a server for an error message.
func brief(s string) string {
	const n = 300
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
