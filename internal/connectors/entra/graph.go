package entra

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
)

const (
	// maxBody bounds what is read of one answer.
	maxBody = 4 << 20
	// maxRetries bounds the retries of a throttled (429) or unavailable
	// (503) request.
	maxRetries = 3
	// maxRetryWait bounds one wait, whatever Retry-After asks.
	maxRetryWait = 60 * time.Second
)

// graph is one system's Graph endpoint, token endpoint and credential, for
// one Ensure or Check.
type graph struct {
	c        *Connector
	http     *http.Client
	base     string // https://host
	host     string
	tokenURL string
	scope    string
	cred     *credential
	cacheKey string
	pageSize int
	// secrets are redacted from every error: the credential, and the
	// assertions and tokens of this call.
	secrets []string
}

func (g *graph) close() { g.http.CloseIdleConnections() }

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a Graph request to target, a path under the Graph endpoint or
// an absolute URL on its host (an @odata.nextLink), and returns the body of
// a 2xx answer. It refreshes a token that Graph refuses once, and waits out
// 429 and 503 answers a few times. need names the permission the call
// needs, for a 403. Its errors never carry a secret or a token.
func (g *graph) do(ctx context.Context, method, target string, body []byte, need string) ([]byte, error) {
	data, err := g.send(ctx, method, target, body, need)
	return data, connectors.RedactSecrets(err, g.secrets...)
}

func (g *graph) send(ctx context.Context, method, target string, body []byte, need string) ([]byte, error) {
	full, err := g.url(target)
	if err != nil {
		return nil, err
	}
	headers := map[string]string{"Accept": "application/json"}
	if body != nil {
		headers["Content-Type"] = "application/json"
	}
	refreshed := false
	for retries := 0; ; {
		tok, err := g.token(ctx)
		if err != nil {
			return nil, err
		}
		headers["Authorization"] = "Bearer " + tok
		resp, err := g.roundTrip(ctx, method, full, body, headers)
		if err != nil {
			return nil, err
		}
		if resp.status >= 200 && resp.status < 300 {
			return resp.body, nil
		}
		switch {
		case resp.status == http.StatusUnauthorized && !refreshed:
			// Expired or revoked before the cache expected: once more
			// with a new token.
			refreshed = true
			g.c.tokens.drop(g.cacheKey, tok)
			continue
		case retryable(resp.status) && retries < maxRetries && backoff(ctx, resp.header, retries):
			retries++
			continue
		}
		return nil, newAPIError(method, target, resp, g.secrets).classify(need)
	}
}

// url resolves target; an absolute URL must be https:// on the Graph host.
func (g *graph) url(target string) (string, error) {
	if strings.HasPrefix(target, "/") {
		return g.base + target, nil
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "https" || u.User != nil || !strings.EqualFold(u.Host, g.host) {
		return "", fmt.Errorf("refusing to follow the link %s: it leaves %s", connectors.RedactURL(target), g.base)
	}
	return target, nil
}

// roundTrip sends one request and reads at most maxBody of the answer.
func (g *graph) roundTrip(ctx context.Context, method, full string, body []byte, headers map[string]string) (*response, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, reader)
	if err != nil {
		// url.Parse's error quotes the whole URL.
		return nil, fmt.Errorf("building the request %s %s", method, pathOf(full))
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, requestError(full, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", method, pathOf(full), connectors.RedactURLError(err))
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("the answer to %s %s is larger than %d bytes", method, pathOf(full), maxBody)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// retryable statuses ask the client to come back later.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// backoff waits before retry n of a throttled request: Retry-After
// (seconds or a date) when the answer has it, else 1, 2, 4 s; at most
// maxRetryWait. It reports false, without waiting, when the wait would
// outlast ctx, and when ctx ends during it.
func backoff(ctx context.Context, h http.Header, n int) bool {
	wait := time.Second << n
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			wait = time.Duration(secs) * time.Second
		} else if at, err := http.ParseTime(ra); err == nil {
			wait = time.Until(at)
		}
	}
	wait = max(0, min(wait, maxRetryWait))
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

// pathOf is the path of a URL, for errors: the query can be long.
func pathOf(full string) string {
	if u, err := url.Parse(full); err == nil {
		return u.EscapedPath()
	}
	if i := strings.IndexAny(full, "?#"); i >= 0 {
		return full[:i]
	}
	return full
}

// requestError names only the scheme and host of full, not its path or
// query, which hold ids, and says which setting adds CAs to trust.
func requestError(full string, err error) error {
	where := full
	if u, perr := url.Parse(full); perr == nil {
		where = u.Scheme + "://" + u.Host
	}
	return connectors.RequestError(where, "spec.entra.caBundle adds CAs to trust", err)
}
