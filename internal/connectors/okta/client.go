package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// Routes name the endpoints whose rate limits Okta counts apart.
const (
	routeToken          = "POST /oauth2/v1/token"
	routeGetUser        = "GET /api/v1/users/{id}"
	routeListUsers      = "GET /api/v1/users"
	routeLifecycle      = "POST /api/v1/users/{id}/lifecycle"
	routeClearSessions  = "DELETE /api/v1/users/{id}/sessions"
	routeListGroups     = "GET /api/v1/groups"
	routeGroupMembers   = "GET /api/v1/groups/{id}/users"
	routeChangeMembers  = "PUT|DELETE /api/v1/groups/{id}/users/{userId}"
	maxBody             = 4 << 20
	maxRateLimitRetries = 3
)

// api is one system's org, credentials and HTTP client, for one Ensure or
// Check.
type api struct {
	c        *Connector
	base     *url.URL // scheme and host only
	apiToken string
	oauth    *oauthClient
	cacheKey string
	// scopes are the scopes an access token is asked for: those of the
	// operation, and no more.
	scopes string
	// bodyLimit bounds one answer's body.
	bodyLimit int64
	http      *http.Client
	// secrets are what no error may show: the credentials, and the
	// access tokens and assertions made with them.
	secrets []string
}

// client is clientFor with the enforcement's Scopes.
func (c *Connector) client(system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*api, error) {
	return c.clientFor(system, credentials, Scopes)
}

// clientFor checks the settings and credentials and builds the API client,
// whose access tokens carry scopes. It sends nothing: an http:// orgURL
// without spec.insecure, or one with user info, is refused before any
// credential could leave.
func (c *Connector) clientFor(system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte, scopes string) (*api, error) {
	s := system.Spec.Okta
	if s == nil {
		return nil, errors.New("the system has no okta settings")
	}
	base, err := orgURL(s.OrgURL, system.Spec.Insecure)
	if err != nil {
		return nil, err
	}
	a := &api{c: c, base: base, scopes: scopes, bodyLimit: maxBody}
	if err := a.useCredentials(system, credentials); err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	if a.http, err = connectors.HTTPClient(s.CABundle, timeout); err != nil {
		return nil, fmt.Errorf("spec.okta: %w", err)
	}
	return a, nil
}

// orgURL is spec.okta.orgURL as scheme://host, once it is known to be
// https:// (or http:// with insecure), without user info, path, query or
// fragment.
func orgURL(raw string, insecure bool) (*url.URL, error) {
	u, err := connectors.CheckHTTPURL("spec.okta.orgURL", raw, insecure, "the credentials")
	if err != nil {
		return nil, err
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("spec.okta.orgURL %s has a path, a query or a fragment: give the org URL only, e.g. https://example.okta.com",
			connectors.RedactURL(raw))
	}
	if strings.Contains(strings.ToLower(u.Hostname()), "-admin.") {
		return nil, fmt.Errorf("spec.okta.orgURL %s is the Admin Console's host: give the org URL, without -admin", u.Host)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

func (a *api) close() { a.http.CloseIdleConnections() }

// response is a 2xx answer.
type response struct {
	body   []byte
	header http.Header
}

// call sends a Management API request with the credentials. A 401 to an
// access token from the cache drops it, and the call is tried once more
// with a new one. Its errors never show a secret.
func (a *api) call(ctx context.Context, route, method, path string) (*response, error) {
	resp, err := a.callAuthorized(ctx, route, method, path)
	return resp, connectors.RedactSecrets(err, a.secrets...)
}

func (a *api) callAuthorized(ctx context.Context, route, method, path string) (*response, error) {
	for attempt := 0; ; attempt++ {
		auth, token, err := a.authorization(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := a.send(ctx, route, method, path, nil, auth)
		if se, ok := errors.AsType[*statusError](err); ok && se.code == http.StatusUnauthorized && token != "" && attempt == 0 {
			a.c.dropToken(a.cacheKey, token)
			continue
		}
		return resp, err
	}
}

// send sends one request, waiting for the route's rate limit to reset
// first when the last answer said that none was left, and again, a bounded
// number of times, after a 429. form, when not nil, builds the
// url-encoded body anew for each attempt.
func (a *api) send(ctx context.Context, route, method, path string, form func() (url.Values, error), auth string) (*response, error) {
	limitKey := a.base.String() + " " + route
	for retry := 0; ; retry++ {
		if err := a.c.waitForBudget(ctx, limitKey); err != nil {
			return nil, err
		}
		req, err := a.request(ctx, method, path, form, auth)
		if err != nil {
			return nil, err
		}
		resp, err := a.http.Do(req)
		if err != nil {
			return nil, connectors.RequestError(a.base.String(), "", err)
		}
		data, err := readBody(resp.Body, a.bodyLimit)
		_ = resp.Body.Close()
		a.c.noteLimits(limitKey, resp.Header)
		if err != nil {
			return nil, fmt.Errorf("reading the answer to %s %s: %w", method, stripQuery(path), err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && retry < maxRateLimitRetries {
			if err := a.c.sleepUntilReset(ctx, resp.Header, method, stripQuery(path)); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return &response{body: data, header: resp.Header}, nil
		}
		return nil, newStatusError(method, stripQuery(path), resp, data, a.scopes)
	}
}

func (a *api) request(ctx context.Context, method, path string, form func() (url.Values, error), auth string) (*http.Request, error) {
	var body io.Reader
	if form != nil {
		values, err := form()
		if err != nil {
			return nil, err
		}
		body = strings.NewReader(values.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base.String()+path, body)
	if err != nil {
		// url.Parse's error quotes the whole URL.
		return nil, fmt.Errorf("building the request %s %s", method, stripQuery(path))
	}
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req, nil
}

// readBody reads at most limit bytes, and fails on a longer body.
func readBody(body io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("the answer is longer than %d bytes", limit)
	}
	return data, err
}

func stripQuery(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// statusError is a non-2xx answer. Its text has Okta's error code and
// summary (or the OAuth error and description), never the request's
// headers or body.
type statusError struct {
	method, path string
	code         int
	detail       string
	hint         string
	cause        error // a connectors sentinel, or nil
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s %s: Okta answered %d %s", e.method, e.path, e.code, e.detail)
	if e.hint != "" {
		msg += ": " + e.hint
	}
	if e.cause != nil {
		msg = e.cause.Error() + ": " + msg
	}
	return msg
}

func (e *statusError) Unwrap() error { return e.cause }

// oktaError is both shapes of Okta's error bodies: the Management API's and
// the OAuth 2.0 endpoints'.
type oktaError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// newStatusError reads a non-2xx answer to a request made with an access
// token for scopes (or with an API token).
func newStatusError(method, path string, resp *http.Response, body []byte, scopes string) *statusError {
	var oe oktaError
	_ = json.Unmarshal(body, &oe)
	e := &statusError{method: method, path: path, code: resp.StatusCode, detail: http.StatusText(resp.StatusCode)}
	switch {
	case oe.ErrorCode != "":
		e.detail = brief(oe.ErrorCode + " " + oe.ErrorSummary)
	case oe.Error != "":
		e.detail = brief(oe.Error + ": " + oe.Description)
	}
	switch code := resp.StatusCode; {
	case oe.Error == "invalid_scope":
		e.cause, e.hint = connectors.ErrCredentials, missingScopeHint(oe.Description, scopes)
	case oe.Error == "invalid_dpop_proof" || oe.Error == "use_dpop_nonce":
		e.cause, e.hint = connectors.ErrCredentials, "the service app requires DPoP, which the connector does not send: clear \"Require Demonstrating Proof of Possession (DPoP) header in token requests\" in the app's settings"
	case code == http.StatusUnauthorized || oe.Error == "invalid_client" || oe.Error == "unauthorized_client":
		e.cause = connectors.ErrCredentials
	case code == http.StatusForbidden:
		e.cause, e.hint = connectors.ErrCredentials, forbiddenHint(resp.Header.Get("WWW-Authenticate"), scopes)
	case code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		e.cause = connectors.ErrUnreachable
	}
	return e
}

// missingScopeHint names the requested scopes that the token endpoint
// refused.
func missingScopeHint(desc, scopes string) string {
	var named []string
	for s := range strings.FieldsSeq(scopes) {
		if strings.Contains(desc, s) {
			named = append(named, s)
		}
	}
	if len(named) == 0 {
		named = strings.Fields(scopes)
	}
	return "missing scope " + strings.Join(named, " and ") +
		": grant it to the service app (Okta API Scopes tab); the connector needs " + scopes
}

// forbiddenHint tells a missing scope (the Bearer challenge names it) from
// a missing admin permission.
func forbiddenHint(challenge, scopes string) string {
	if strings.Contains(challenge, "insufficient_scope") {
		scope := challengeParam(challenge, "scope")
		if scope == "" {
			scope = scopes
		}
		return "missing scope " + scope + ": the access token does not carry it; grant it to the service app (Okta API Scopes tab)"
	}
	return "missing permission: the admin role of the service app (or of the API token's admin) does not allow this on this user or group"
}

// challengeParam reads name="value" from a WWW-Authenticate header.
func challengeParam(challenge, name string) string {
	_, rest, ok := strings.Cut(challenge, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return brief(v)
}

func brief(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
