package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// Defaults of the Client's waits between attempts.
const (
	// DefaultFirstWait is the wait before the first retry when the server
	// gives no Retry-After; each later wait doubles, give or take half.
	DefaultFirstWait = time.Second
	// DefaultMaxWait bounds one wait that the client chooses itself.
	DefaultMaxWait = 30 * time.Second
	// DefaultMaxRetryAfter bounds how long a server's Retry-After makes a
	// batch wait.
	DefaultMaxRetryAfter = time.Minute
	// DefaultMaxElapsed bounds the time spent on one batch, attempts and
	// waits together: no retry starts whose wait would end after it.
	DefaultMaxElapsed = 10 * time.Minute
)

// maxResponse bounds how much of a response the client reads.
const maxResponse = 32 << 20

// redactedToken replaces the bearer token in an error message.
const redactedToken = "xxxxx"

// Client sends sign-in events to the sign-in endpoint (Path) in batches,
// and sends a batch again after HTTP 503 (busy, or failed part way), HTTP
// 429 (over the token's rate) or a connection error: after the server's
// Retry-After when it gives one, else after a wait that grows exponentially,
// with jitter. The server does not count again what it already stored.
type Client struct {
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// URL is the endpoint's whole address, path included.
	URL string
	// Token is the bearer token. It never appears in an error.
	Token string
	// BatchSize is the number of events per request; at least 1.
	BatchSize int
	// Retries is how often a batch is sent again; 0 sends it once.
	Retries int

	// FirstWait, MaxWait, MaxRetryAfter and MaxElapsed are the waits;
	// zero means DefaultFirstWait, DefaultMaxWait, DefaultMaxRetryAfter
	// and DefaultMaxElapsed.
	FirstWait, MaxWait, MaxRetryAfter, MaxElapsed time.Duration
}

// Send posts the events in batches of BatchSize and adds up what the server
// did with them, with every rejection's index that of the event in events.
// It stops at the first batch that fails, with an error naming its events.
func (c *Client) Send(ctx context.Context, events []json.RawMessage) (signals.Result, error) {
	var total signals.Result
	if c.BatchSize < 1 {
		return total, errors.New("the batch size must be at least 1")
	}
	for start := 0; start < len(events); start += c.BatchSize {
		chunk := events[start:min(start+c.BatchSize, len(events))]
		res, err := c.sendBatch(ctx, chunk)
		if err != nil {
			return total, fmt.Errorf("events %d to %d: %w", start, start+len(chunk)-1, err)
		}
		addShifted(&total, res, start)
	}
	return total, nil
}

// addShifted folds a batch's result into the total, with the rejections'
// indexes shifted by the batch's offset.
func addShifted(total *signals.Result, res signals.Result, offset int) {
	total.AddCounts(res)
	for _, r := range res.Rejected {
		total.Rejected = append(total.Rejected, signals.Rejection{Index: r.Index + offset, Error: r.Error})
	}
}

// ndjson writes the events one per line, compacted; an event that is not
// JSON goes as it is, on one line, for the server to reject by index.
func ndjson(events []json.RawMessage) []byte {
	var body bytes.Buffer
	for _, e := range events {
		if err := json.Compact(&body, e); err != nil {
			body.Write(bytes.ReplaceAll(e, []byte("\n"), []byte(" ")))
		}
		body.WriteByte('\n')
	}
	return body.Bytes()
}

// sendBatch posts one batch, again as long as the failure is one to retry,
// Retries allow and MaxElapsed has not passed.
func (c *Client) sendBatch(ctx context.Context, events []json.RawMessage) (signals.Result, error) {
	body := ndjson(events)
	attempts := 0
	retryable := false
	res, err := backoff.Retry(ctx, func() (signals.Result, error) {
		attempts++
		res, err := c.post(ctx, body)
		retryable = err != nil && isRetryable(err)
		if err != nil && !retryable {
			return res, backoff.Permanent(err)
		}
		return res, err
	},
		backoff.WithBackOff(c.backOff()),
		backoff.WithMaxTries(uint(max(c.Retries, 0))+1),
		backoff.WithMaxElapsedTime(orDefault(c.MaxElapsed, DefaultMaxElapsed)),
	)
	if err == nil {
		return res, nil
	}
	if permanent, ok := errors.AsType[*backoff.PermanentError](err); ok {
		err = permanent.Err
	}
	if ctx.Err() != nil {
		return signals.Result{}, context.Cause(ctx)
	}
	if retryable {
		return signals.Result{}, fmt.Errorf("gave up after %d attempts: %w", attempts, err)
	}
	return signals.Result{}, err
}

func (c *Client) backOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = orDefault(c.FirstWait, DefaultFirstWait)
	b.MaxInterval = orDefault(c.MaxWait, DefaultMaxWait)
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	return b
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// attemptError is the error of one attempt that may be tried again, after
// the server's Retry-After when wait is set.
type attemptError struct {
	err  error
	wait *backoff.RetryAfterError
}

func (e *attemptError) Error() string { return e.err.Error() }

// Unwrap gives the attempt's error and, for the backoff library, the wait
// the server asked for.
func (e *attemptError) Unwrap() []error {
	if e.wait == nil {
		return []error{e.err}
	}
	return []error{e.err, e.wait}
}

func isRetryable(err error) bool {
	_, ok := errors.AsType[*attemptError](err)
	return ok
}

// post sends the batch once. A failure worth another attempt comes back as
// an *attemptError.
func (c *Client) post(ctx context.Context, body []byte) (signals.Result, error) {
	var res signals.Result
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		err = c.redact(err)
		if ctx.Err() != nil {
			return res, err
		}
		return res, &attemptError{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return res, &attemptError{err: c.redact(fmt.Errorf("reading the response: %w", err))}
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &res); err != nil {
			return res, fmt.Errorf("the server's response is not a result: %w", err)
		}
		return res, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(raw))
	}
	err = c.redact(fmt.Errorf("%s: %s", resp.Status, e.Error))
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return res, err
	}
	again := &attemptError{err: err}
	if wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		again.wait = &backoff.RetryAfterError{Duration: min(wait, orDefault(c.MaxRetryAfter, DefaultMaxRetryAfter))}
	}
	return res, again
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date.
func retryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.Atoi(value); err == nil {
		return time.Duration(max(seconds, 0)) * time.Second, seconds > 0
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return at.Sub(now), true
	}
	return 0, false
}

// redact takes the token out of an error's message: a server or a proxy
// may echo the request's headers back. The result does not wrap err, so
// that the token cannot be reached through errors.Unwrap either.
func (c *Client) redact(err error) error {
	token := strings.TrimSpace(c.Token)
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, redactedToken))
}
