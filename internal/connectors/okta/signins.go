package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// LogScopes is the scope the connector asks the org authorization server
// for to read the System Log: nothing more.
const LogScopes = "okta.logs.read"

// What one read of the System Log asks for and accepts.
const (
	routeLogs = "GET /api/v1/logs"
	logsPath  = "/api/v1/logs"
	// logPageSize is the most events Okta returns a page.
	logPageSize = 1000
	// maxLogBody bounds one page: a thousand events of a few KiB each.
	maxLogBody = 32 << 20
	// logTimeLayout is RFC 3339 with milliseconds, in UTC.
	logTimeLayout = "2006-01-02T15:04:05.000Z"
)

// signInEventTypes are the event types of a sign-in: a new Okta session,
// and a single sign-on into an application.
var signInEventTypes = []string{"user.session.start", "user.authentication.sso"}

var _ connectors.SignInLog = (*Connector)(nil)

// ReadSignIns returns the sign-in events of the org's System Log published
// in [q.From, q.To), oldest first, as Okta's LogEvent objects. It asks
// Okta for the sign-in event types only, a bounded query (since and until)
// in pages that it follows on the org only, and fails with
// ErrTooManyRecords as soon as a page takes the count past q.Max. A
// service app's access token carries LogScopes only.
func (c *Connector) ReadSignIns(ctx context.Context, q connectors.LogQuery) ([]json.RawMessage, error) {
	if err := checkLogQuery(q); err != nil {
		return nil, err
	}
	if q.From.Equal(q.To) {
		return nil, nil
	}
	a, err := c.clientFor(q.System, q.Credentials, LogScopes)
	if err != nil {
		return nil, err
	}
	defer a.close()
	a.bodyLimit = maxLogBody
	return a.readLogs(ctx, q)
}

// checkLogQuery refuses a query without a system, a negative limit, or a
// window that ends before it starts.
func checkLogQuery(q connectors.LogQuery) error {
	switch {
	case q.System == nil:
		return errors.New("reading the Okta System Log: no system given")
	case q.Max < 0:
		return fmt.Errorf("reading the Okta System Log: the limit of %d records is negative", q.Max)
	case q.From.IsZero() || q.To.Before(q.From):
		return fmt.Errorf("reading the Okta System Log: the window from %s to %s is not a time range",
			q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// readLogs reads the pages of the query: enough of them to hold q.Max+1
// events, and two more (an empty last page), at most.
func (a *api) readLogs(ctx context.Context, q connectors.LogQuery) ([]json.RawMessage, error) {
	size := min(q.Max+1, logPageSize)
	maxLogPages := q.Max/size + 2
	path := logsPath + "?" + logParams(q, size).Encode()
	var records []json.RawMessage
	for range maxLogPages {
		resp, err := a.call(ctx, routeLogs, http.MethodGet, path)
		if err != nil {
			return nil, fmt.Errorf("reading the Okta System Log: %w", err)
		}
		page, err := inWindow(resp.body, q.From, q.To)
		if err != nil {
			return nil, err
		}
		records = append(records, page...)
		if len(records) > q.Max {
			return nil, fmt.Errorf("reading the Okta System Log from %s to %s: %w (%d)",
				q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339), connectors.ErrTooManyRecords, q.Max)
		}
		next := nextLink(resp.header)
		if next == "" {
			return records, nil
		}
		if path, err = a.samePath(next, logsPath); err != nil {
			return nil, fmt.Errorf("paging through the Okta System Log: %w", err)
		}
	}
	return nil, fmt.Errorf("the Okta System Log from %s to %s takes more than %d pages of %d events: the org keeps sending next links",
		q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339), maxLogPages, size)
}

// logParams are the query parameters of the first page: the sign-in event
// types, published in [From, To), oldest first. Okta's times have
// milliseconds, so both bounds are rounded up to the next millisecond:
// an event at or after From (before To) is at or after since (before
// until).
func logParams(q connectors.LogQuery, size int) url.Values {
	return url.Values{
		"since":     {ceilMillis(q.From).Format(logTimeLayout)},
		"until":     {ceilMillis(q.To).Format(logTimeLayout)},
		"filter":    {signInFilter()},
		"sortOrder": {"ASCENDING"},
		"limit":     {strconv.Itoa(size)},
	}
}

// signInFilter is `eventType eq "user.session.start" or eventType eq
// "user.authentication.sso"`.
func signInFilter() string {
	f := ""
	for i, t := range signInEventTypes {
		if i > 0 {
			f += " or "
		}
		f += `eventType eq "` + t + `"`
	}
	return f
}

// ceilMillis is t in UTC, rounded up to a whole millisecond.
func ceilMillis(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// logEvent is what readLogs checks of an event.
type logEvent struct {
	EventType string `json:"eventType"`
	Published string `json:"published"`
}

// inWindow is a page's sign-in events published in [from, to), as Okta
// sent them. The org filters already; this keeps an answer that did not
// from reaching the caller.
func inWindow(body []byte, from, to time.Time) ([]json.RawMessage, error) {
	var page []json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, errors.New("reading the Okta System Log: the answer is not a list of log events")
	}
	kept := page[:0]
	for i, raw := range page {
		var ev logEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("reading the Okta System Log: event %d of a page is not a log event", i)
		}
		at, err := time.Parse(time.RFC3339Nano, ev.Published)
		if err != nil {
			return nil, fmt.Errorf("reading the Okta System Log: event %d of a page has no published time", i)
		}
		if !at.Before(from) && at.Before(to) && slices.Contains(signInEventTypes, ev.EventType) {
			kept = append(kept, raw)
		}
	}
	return kept, nil
}
