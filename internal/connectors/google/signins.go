package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/googleapi"

	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// ReportsScope is the only scope ReadSignIns asks for; an administrator
// must authorise it for the service account's client ID in domain-wide
// delegation, besides Scopes, to have the sign-in log read.
const ReportsScope = reports.AdminReportsAuditReadonlyScope

const (
	// activitiesPath is activities.list of every user's login activities.
	activitiesPath = "/admin/reports/v1/activity/users/all/applications/login"
	// activitiesPageMax is the page size asked of activities.list: it
	// sends up to 1000, but a page must fit in maxBody, and an activity
	// with many parameters runs to a few kilobytes.
	activitiesPageMax = 500
	// maxReadTime bounds one ReadSignIns, retries included.
	maxReadTime = 10 * time.Minute
	// privReports is the admin privilege activities.list needs.
	privReports = "the admin privilege Reports (Admin console > Account > Admin roles)"
	// apiTime is the Reports API's time format: RFC 3339 in UTC, with the
	// milliseconds its records carry.
	apiTime = "2006-01-02T15:04:05.000Z07:00"
)

var _ connectors.SignInLog = (*Connector)(nil)

// ReadSignIns returns the login activities (application "login", every
// user) of the Admin SDK Reports API whose id.time is in [q.From, q.To),
// each the Activity's JSON object as the API sent it (activities.list is
// called with the connector's API client, but its answer is not decoded
// into the client library's types, which would drop false booleans and
// fields they lack). Google's records carry milliseconds and its endTime
// is inclusive, so the request asks for startTime q.From and endTime q.To
// less a millisecond (both rounded up to the millisecond); records outside
// the window are dropped all the same. More than q.Max records is
// connectors.ErrTooManyRecords, returned as soon as the page that holds
// one too many arrives. Throttling is retried as in Ensure; a 503 is
// ErrUnreachable, for the caller to read the window again later.
func (c *Connector) ReadSignIns(ctx context.Context, q connectors.LogQuery) ([]json.RawMessage, error) {
	w, err := newLogWindow(q)
	if err != nil || w.empty() {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, maxReadTime)
	defer cancel()
	a, err := c.client(ctx, q.System, q.Credentials, []string{ReportsScope})
	if err != nil {
		return nil, err
	}
	defer a.close()
	if err := a.start(); err != nil {
		return nil, err
	}
	return (&logReader{a: a, w: w}).read(ctx)
}

// logWindow is one read's window and bounds.
type logWindow struct {
	from, to   time.Time // [from, to)
	start, end string    // the API's startTime and endTime, both inclusive
	max        int
	pageSize   int
	maxPages   int
}

// newLogWindow checks q and works out the request's window and bounds: a
// page holds q.Max+1 records, up to 1000, so that a small limit is known
// to be exceeded after one page.
func newLogWindow(q connectors.LogQuery) (*logWindow, error) {
	switch {
	case q.System == nil:
		return nil, errors.New("reading the login activities: no ConnectedSystem")
	case q.Max <= 0:
		return nil, fmt.Errorf("reading the login activities: the record limit %d is not positive", q.Max)
	case q.From.IsZero() || q.To.IsZero():
		return nil, errors.New("reading the login activities: the window has no start or no end")
	}
	w := &logWindow{from: q.From, to: q.To, max: q.Max, pageSize: min(activitiesPageMax, q.Max+1)}
	w.maxPages = q.Max/w.pageSize + 2
	start, end := ceilMilli(q.From), ceilMilli(q.To).Add(-time.Millisecond)
	if !end.Before(start) {
		w.start, w.end = start.UTC().Format(apiTime), end.UTC().Format(apiTime)
	}
	return w, nil
}

// empty is a window that no millisecond falls in: nothing to ask for.
func (w *logWindow) empty() bool { return w.start == "" }

// holds reports whether the record raw is in the window. A record whose
// time does not parse is kept: the API put it in the window, and idplogs
// reports it.
func (w *logWindow) holds(raw json.RawMessage) (bool, error) {
	var rec struct {
		ID *struct {
			Time string `json:"time"`
		} `json:"id"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return false, fmt.Errorf("reading the login activities: the Reports API sent a record that is no Activity: %w", err)
	}
	if rec.ID == nil {
		return true, nil
	}
	return w.within(rec.ID.Time), nil
}

// within reports whether the record time s is in the window, or does not
// parse.
func (w *logWindow) within(s string) bool {
	t, err := time.Parse(time.RFC3339, s)
	return err != nil || (!t.Before(w.from) && t.Before(w.to))
}

// ceilMilli rounds t up to the millisecond.
func ceilMilli(t time.Time) time.Time {
	r := t.Truncate(time.Millisecond)
	if r.Before(t) {
		r = r.Add(time.Millisecond)
	}
	return r
}

// logReader is one ReadSignIns' pages.
type logReader struct {
	a *api
	w *logWindow
}

// activityPage is an answer of activities.list, its records as sent.
type activityPage struct {
	Items         []json.RawMessage `json:"items"`
	NextPageToken string            `json:"nextPageToken"`
}

// read pages through activities.list, at most w.maxPages pages.
func (r *logReader) read(ctx context.Context) ([]json.RawMessage, error) {
	var out []json.RawMessage
	token := ""
	for page := 1; ; page++ {
		res, err := r.page(ctx, token)
		if err != nil {
			return nil, err
		}
		if out, err = r.keep(out, res.Items); err != nil {
			return nil, err
		}
		switch {
		case res.NextPageToken == "":
			return out, nil
		case res.NextPageToken == token:
			return nil, errors.New("reading the login activities: the Reports API sent the same page token twice")
		case page >= r.w.maxPages:
			return nil, fmt.Errorf("reading the login activities: the Reports API sent more than %d pages for %d records at most",
				r.w.maxPages, r.w.max)
		}
		token = res.NextPageToken
	}
}

// keep appends the records of a page that are in the window to out, and
// fails once they are more than w.max.
func (r *logReader) keep(out, recs []json.RawMessage) ([]json.RawMessage, error) {
	for _, raw := range recs {
		if string(raw) == "null" {
			continue
		}
		in, err := r.w.holds(raw)
		switch {
		case err != nil:
			return nil, err
		case !in:
			continue
		case len(out) == r.w.max:
			return nil, fmt.Errorf("reading the login activities from %s to %s: %w: more than %d",
				r.w.from.UTC().Format(time.RFC3339Nano), r.w.to.UTC().Format(time.RFC3339Nano), connectors.ErrTooManyRecords, r.w.max)
		}
		out = append(out, raw)
	}
	return out, nil
}

// page asks for one page of activities.list: token's, or the first. A
// 401 that a new token does not cure is, on the Reports API, an admin
// without the Reports privilege, and the error says so.
func (r *logReader) page(ctx context.Context, token string) (*activityPage, error) {
	var body []byte
	var refused bool
	_, err := r.a.do(ctx, "reading the login activities (Reports API activities.list)", privReports, func() error {
		var err error
		body, err = r.get(ctx, token)
		gerr, ok := errors.AsType[*googleapi.Error](err)
		refused = ok && gerr.Code == http.StatusUnauthorized
		return err
	})
	if err != nil && refused {
		return nil, fmt.Errorf("%w; a new access token was refused too: give spec.google.adminEmail %q %s", err, r.a.subject, privReports)
	}
	if err != nil {
		return nil, err
	}
	var res activityPage
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("reading the login activities: the answer is no activities page: %w", err)
	}
	return &res, nil
}

// get sends one activities.list request through the API client (token,
// body limit, no redirects) and returns the body of a 2xx answer; any
// other answer is Google's error, as the client library returns it.
func (r *logReader) get(ctx context.Context, token string) ([]byte, error) {
	v := url.Values{"startTime": {r.w.start}, "endTime": {r.w.end}, "maxResults": {strconv.Itoa(r.w.pageSize)},
		"alt": {"json"}, "prettyPrint": {"false"}}
	if token != "" {
		v.Set("pageToken", token)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.a.base+activitiesPath+"?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.a.apiHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := googleapi.CheckResponse(resp); err != nil {
		return nil, err
	}
	return io.ReadAll(resp.Body)
}
