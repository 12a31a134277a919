package google

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

const (
	// maxBody bounds what is read of one answer.
	maxBody = 4 << 20
	// maxRetries bounds the retries of a throttled request, and
	// maxRetryTotal the time spent waiting for them.
	maxRetries    = 3
	maxRetryTotal = 60 * time.Second
	caHint        = "spec.google.caBundle adds CAs to trust"
)

// api is one system's Admin SDK client and token source, for one Ensure,
// Check or ReadSignIns.
type api struct {
	c        *Connector
	svc      *admin.Service
	shared   *http.Client
	apiHTTP  *http.Client // sends API requests with the access token
	scopes   []string     // the scopes the token is asked for
	base     string       // the API endpoint, https://host
	subject  string       // spec.google.adminEmail
	key      *serviceAccountKey
	cacheKey string
	ts       *tokenSource

	mu sync.Mutex
	// secrets are redacted from every error: the key file, and the
	// assertions and access tokens of this call.
	secrets []string
	// token is the last access token handed to a request.
	token string
}

func (a *api) addSecret(s string) {
	if s == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.secrets = append(a.secrets, s)
}

// useToken records the access token handed to a request.
func (a *api) useToken(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tok != a.token {
		a.secrets = append(a.secrets, tok)
		a.token = tok
	}
}

func (a *api) secretList() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.secrets)
}

// redact replaces the secrets in text from a server.
func (a *api) redact(s string) string {
	return connectors.RedactSecrets(errors.New(s), a.secretList()...).Error()
}

func (a *api) close() { a.shared.CloseIdleConnections() }

// client checks the settings and the key and builds the Directory API
// client, whose tokens are asked for scopes. It sends nothing: an endpoint
// or token URL that is not https://, or that carries credentials, is
// refused before any secret could leave.
func (c *Connector) client(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte,
	scopes []string) (*api, error) {
	s := system.Spec.Google
	if s == nil {
		return nil, errors.New("the system has no google settings (spec.google)")
	}
	if err := validKey("spec.google.adminEmail", s.AdminEmail); err != nil || !strings.Contains(s.AdminEmail, "@") {
		return nil, fmt.Errorf("spec.google.adminEmail must be the email address of the administrator the service account acts as")
	}
	base, err := endpoint(s.Endpoint)
	if err != nil {
		return nil, err
	}
	tokenURL, err := tokenEndpoint(s.TokenURL)
	if err != nil {
		return nil, err
	}
	raw := credentials[KeyServiceAccountKey]
	key, secrets, err := parseKey(raw)
	if err != nil {
		return nil, connectors.RedactSecrets(err, secrets...)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	shared, err := connectors.HTTPClient(s.CABundle, timeout)
	if err != nil {
		return nil, fmt.Errorf("spec.google: %w", err)
	}
	a := &api{c: c, shared: shared, base: base, subject: s.AdminEmail, key: key, scopes: scopes,
		cacheKey: cacheKey(system, tokenURL, s.AdminEmail, scopes, raw), secrets: secrets}
	rec := &recorder{base: shared.Transport, a: a, ctx: ctx}
	a.ts = &tokenSource{a: a, rec: rec,
		http: &http.Client{Transport: rec, Timeout: timeout, CheckRedirect: noRedirect},
		conf: &jwt.Config{Email: key.ClientEmail, PrivateKey: []byte(key.PrivateKey), PrivateKeyID: key.PrivateKeyID,
			Subject: s.AdminEmail, Scopes: scopes, TokenURL: tokenURL}}
	// The oauth2 transport sets the token on every request, redirected
	// ones too: no redirect is followed, so it never leaves the endpoint.
	a.apiHTTP = &http.Client{Timeout: timeout, CheckRedirect: noRedirect,
		Transport: &oauth2.Transport{Source: a.ts, Base: limitTransport{shared.Transport}}}
	a.svc, err = admin.NewService(ctx, option.WithHTTPClient(a.apiHTTP), option.WithEndpoint(base+"/"))
	if err != nil {
		return nil, fmt.Errorf("building the Directory API client: %w", err)
	}
	return a, nil
}

// start gets the access token (cached, or new), so that a refused key or
// an unreachable token endpoint is told apart before any API call.
func (a *api) start() error {
	_, err := a.ts.Token()
	return err
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// endpoint is the API endpoint: https://, a host and no more.
func endpoint(raw string) (string, error) {
	if raw == "" {
		raw = DefaultEndpoint
	}
	u, err := connectors.CheckHTTPURL("spec.google.endpoint", raw, false, "the access tokens")
	if err != nil {
		return "", err
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("spec.google.endpoint %s must be a scheme and a host only, like %s", connectors.RedactURL(raw), DefaultEndpoint)
	}
	return "https://" + u.Host, nil
}

// tokenEndpoint is where assertions go: the setting, or Google's token
// endpoint; never the token_uri of the key file, so that a key file cannot
// send the signed assertion elsewhere.
func tokenEndpoint(raw string) (string, error) {
	if raw == "" {
		raw = DefaultTokenURL
	}
	u, err := connectors.CheckHTTPURL("spec.google.tokenURL", raw, false, "the signed assertions and access tokens")
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("spec.google.tokenURL %s must have no query or fragment", connectors.RedactURL(raw))
	}
	return u.String(), nil
}

// validKey accepts a user or group key (an email address or an id) that
// the client library can put in a path: no control characters, no
// surrounding spaces, not a dot segment.
func validKey(field, k string) error {
	if k == "" || k == "." || k == ".." || len(k) > 320 || !utf8.ValidString(k) ||
		strings.ContainsFunc(k, unicode.IsControl) || strings.TrimSpace(k) != k {
		return fmt.Errorf("%s %q is not an email address", field, brief(k))
	}
	return nil
}

// limitTransport bounds the answers the client library reads.
type limitTransport struct{ base http.RoundTripper }

func (l limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = limitBody(resp.Body)
	return resp, nil
}

type limitedBody struct {
	r io.ReadCloser
	n int64
}

func limitBody(r io.ReadCloser) io.ReadCloser { return &limitedBody{r: r, n: maxBody} }

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, fmt.Errorf("the answer is larger than %d bytes", maxBody)
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// do runs call, one Directory API request: it retries a refused token once
// with a new one, and a throttled request (429, or 403 rateLimitExceeded or
// userRateLimitExceeded) with exponential backoff. An answer whose status
// is in accept is returned as that status, without an error. what says
// what the call does and need the admin privilege it needs, for errors.
func (a *api) do(ctx context.Context, what, need string, call func() error, accept ...int) (int, error) {
	start := time.Now()
	refreshed := false
	for retry := 0; ; {
		err := call()
		if err == nil {
			return 0, nil
		}
		gerr, ok := errors.AsType[*googleapi.Error](err)
		switch {
		case ok && slices.Contains(accept, gerr.Code):
			return gerr.Code, nil
		case ok && gerr.Code == http.StatusUnauthorized && !refreshed:
			refreshed = true
			a.mu.Lock()
			tok := a.token
			a.mu.Unlock()
			a.c.tokens.drop(a.cacheKey, tok)
			continue
		case ok && throttled(gerr) && retry < maxRetries && a.c.backoff(ctx, retry, start):
			retry++
			continue
		}
		return 0, connectors.RedactSecrets(a.classify(ctx, what, need, err), a.secretList()...)
	}
}

// throttled is a rate limit answer, which Google asks clients to retry
// with exponential backoff.
func throttled(e *googleapi.Error) bool {
	if e.Code == http.StatusTooManyRequests {
		return true
	}
	return e.Code == http.StatusForbidden && slices.ContainsFunc(e.Errors, func(i googleapi.ErrorItem) bool {
		return i.Reason == "rateLimitExceeded" || i.Reason == "userRateLimitExceeded"
	})
}

// backoff waits before retry n: base·2ⁿ plus up to base of jitter, base a
// second. It reports false, without waiting, when the wait would take the
// retries past maxRetryTotal or outlast ctx, and when ctx ends during it.
func (c *Connector) backoff(ctx context.Context, n int, start time.Time) bool {
	base := c.retryBase
	if base <= 0 {
		base = time.Second
	}
	wait := base<<n + rand.N(base)
	if time.Since(start)+wait > maxRetryTotal {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// classify says what a failed call means, wrapping the connector sentinel
// it stands for. Google's message is kept, shortened; the body is not.
func (a *api) classify(ctx context.Context, what, need string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	for _, known := range []error{connectors.ErrCredentials, connectors.ErrUnreachable, connectors.ErrTLS, connectors.ErrInsecure} {
		if errors.Is(err, known) {
			// The token source's errors, classified already.
			return fmt.Errorf("%s: %w", what, connectors.RedactURLError(err))
		}
	}
	gerr, ok := errors.AsType[*googleapi.Error](err)
	if !ok {
		return fmt.Errorf("%s: %w", what, requestError(a.base, err))
	}
	return a.apiError(what, need, gerr)
}

// apiError explains an answer that is not 2xx, with what to do.
func (a *api) apiError(what, need string, gerr *googleapi.Error) error {
	var reasons []string
	for _, i := range gerr.Errors {
		reasons = append(reasons, i.Reason)
	}
	reason := strings.Join(slices.Compact(reasons), ",")
	// Redacted before it is shortened, which could cut a secret.
	msg := fmt.Errorf("%s: the Admin SDK answered %d %s: %s", what, gerr.Code, brief(a.redact(reason)), brief(a.redact(gerr.Message)))
	switch {
	case gerr.Code == http.StatusUnauthorized:
		return fmt.Errorf("%w: the Admin SDK refused a new access token: %w", connectors.ErrCredentials, msg)
	case throttled(gerr):
		return fmt.Errorf("throttled by Google after %d retries; retrying later: %w", maxRetries, msg)
	case gerr.Code == http.StatusForbidden && reason == "insufficientPermissions":
		return fmt.Errorf("%w: the access token lacks the scope this call needs: authorise the service account's client ID for %s "+
			"in the Admin console's domain-wide delegation: %w", connectors.ErrCredentials, strings.Join(a.scopes, ","), msg)
	case gerr.Code == http.StatusForbidden:
		return fmt.Errorf("%w: spec.google.adminEmail %q may not do this: give it an admin role with %s, over the contractors' users "+
			"and the groups grants name (a super admin's account is beyond a delegated admin's reach): %w", connectors.ErrCredentials, a.subject, need, msg)
	case gerr.Code == http.StatusServiceUnavailable || gerr.Code == http.StatusBadGateway || gerr.Code == http.StatusGatewayTimeout:
		return fmt.Errorf("%w: %w", connectors.ErrUnreachable, msg)
	case gerr.Code >= 300 && gerr.Code < 400:
		return fmt.Errorf("%w (redirects are not followed)", msg)
	}
	return msg
}

// requestError names only the scheme and host of full, not its path or
// query, and says which setting adds CAs to trust.
func requestError(full string, err error) error {
	where := full
	if u, perr := url.Parse(full); perr == nil {
		where = u.Scheme + "://" + u.Host
	}
	return connectors.RequestError(where, caHint, err)
}
