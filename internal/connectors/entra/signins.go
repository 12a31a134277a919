package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// The sign-in log: GET /v1.0/auditLogs/signIns (List signIns).
const (
	signInsPath = "/v1.0/auditLogs/signIns"
	// maxSignInTop is the page size of signIns: Graph allows 1000, but a
	// sign-in with its conditional access and authentication details runs
	// to several kilobytes, and a page must fit in maxBody.
	maxSignInTop = 200
	// maxSignInRead bounds one ReadSignIns, all its pages and retries.
	maxSignInRead = 10 * time.Minute
	// permReadSignIns is the application permission signIns needs.
	permReadSignIns = "AuditLog.Read.All"
)

var _ connectors.SignInLog = (*Connector)(nil)

// signInPage is one page of the list: the records as Graph has them.
type signInPage struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// ReadSignIns returns the signIns whose createdDateTime is in
// [q.From, q.To), following @odata.nextLink on the Graph endpoint only.
// It stops with ErrTooManyRecords at the first page that takes the count
// past q.Max. The app needs the application permission AuditLog.Read.All
// and the tenant a Microsoft Entra ID P1 or P2 license.
func (c *Connector) ReadSignIns(ctx context.Context, q connectors.LogQuery) ([]json.RawMessage, error) {
	if err := checkLogQuery(q); err != nil {
		return nil, err
	}
	if q.From.Equal(q.To) {
		return nil, nil // a window no record falls in
	}
	if q.System == nil {
		return nil, errors.New("the sign-in log query names no system")
	}
	g, err := c.client(q.System, q.Credentials)
	if err != nil {
		return nil, err
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(ctx, maxSignInRead)
	defer cancel()
	return g.readSignIns(ctx, q)
}

// checkLogQuery refuses a window without bounds or that ends before it
// begins, and a limit that is not positive.
func checkLogQuery(q connectors.LogQuery) error {
	switch {
	case q.From.IsZero() || q.To.IsZero() || q.To.Before(q.From):
		return fmt.Errorf("the sign-in window [%s, %s) is not a window", q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano))
	case q.Max <= 0:
		return fmt.Errorf("the sign-in record limit %d is not positive", q.Max)
	}
	return nil
}

// readSignIns reads the pages of the window, at most q.Max/top+2 of them.
func (g *graph) readSignIns(ctx context.Context, q connectors.LogQuery) ([]json.RawMessage, error) {
	top := g.signInTop(q.Max)
	next := firstSignInsPage(q.From, q.To, top)
	maxPages := q.Max/top + 2
	var out []json.RawMessage
	for range maxPages {
		page, err := g.signInsPage(ctx, next)
		if err != nil {
			return nil, err
		}
		records, err := inWindow(page.Value, q.From, q.To)
		if err != nil {
			return nil, err
		}
		if len(out)+len(records) > q.Max {
			return nil, fmt.Errorf("%w: more than %d Entra ID sign-ins in [%s, %s): read a shorter window",
				connectors.ErrTooManyRecords, q.Max, q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
		}
		out = append(out, records...)
		if page.NextLink == "" {
			return out, nil
		}
		if next, err = g.signInsLink(page.NextLink); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("the Entra ID sign-in log has more than %d pages of %d in the window: refusing to read on", maxPages, top)
}

// signInTop is the page size: Graph's maximum, or the connector's page
// size when smaller (tests), and never much more than max needs.
func (g *graph) signInTop(maxRecords int) int {
	top := maxSignInTop
	if g.c.pageSize > 0 {
		top = min(top, g.c.pageSize)
	}
	return max(1, min(top, maxRecords+1))
}

// firstSignInsPage is the path and query of the window's first page.
func firstSignInsPage(from, to time.Time, top int) string {
	filter := "createdDateTime ge " + from.UTC().Format(time.RFC3339Nano) +
		" and createdDateTime lt " + to.UTC().Format(time.RFC3339Nano)
	return signInsPath + "?$filter=" + queryEscape(filter) + "&$top=" + strconv.Itoa(top)
}

// signInsPage gets and decodes one page.
func (g *graph) signInsPage(ctx context.Context, target string) (*signInPage, error) {
	body, err := g.do(ctx, http.MethodGet, target, nil, permReadSignIns)
	if err != nil {
		return nil, signInsError(err)
	}
	page := &signInPage{}
	if err := json.Unmarshal(body, page); err != nil {
		return nil, fmt.Errorf("reading a page of the Entra ID sign-in log: %w", err)
	}
	return page, nil
}

// signInsLink checks an @odata.nextLink before the token goes with it: it
// must be https:// on the configured Graph host, without user info, and
// name the signIns path. The link itself is not quoted in the error: only
// its scheme, host and path.
func (g *graph) signInsLink(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", errors.New("the @odata.nextLink of the sign-in log is not a URL: refusing to follow it")
	}
	if u.Scheme != "https" || u.User != nil || u.Opaque != "" || !strings.EqualFold(u.Host, g.host) ||
		!strings.EqualFold(u.EscapedPath(), signInsPath) || u.Fragment != "" {
		return "", fmt.Errorf("refusing to follow the sign-in log's @odata.nextLink to %s://%s%s: it is not %s%s",
			u.Scheme, u.Host, u.EscapedPath(), g.base, signInsPath)
	}
	return link, nil
}

// inWindow checks that every record is a JSON object and leaves out the
// ones whose createdDateTime is outside [from, to), should Graph return any.
func inWindow(records []json.RawMessage, from, to time.Time) ([]json.RawMessage, error) {
	out := records[:0:0]
	for i, raw := range records {
		var rec struct {
			CreatedDateTime *string `json:"createdDateTime"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("record %d of a page of the Entra ID sign-in log is not a signIn object: %w", i, err)
		}
		if rec.CreatedDateTime != nil {
			if at, err := time.Parse(time.RFC3339Nano, *rec.CreatedDateTime); err == nil && (at.Before(from) || !at.Before(to)) {
				continue
			}
		}
		out = append(out, raw)
	}
	return out, nil
}

// signInsError explains the 403s of signIns: a missing permission, which
// Graph names Authentication_MSGraphPermissionMissing (or, elsewhere,
// Authorization_RequestDenied), and a tenant without a premium license.
func signInsError(err error) error {
	e, ok := errors.AsType[*apiError](err)
	if !ok || e.status != http.StatusForbidden {
		return err
	}
	switch e.code {
	case "Authentication_MSGraphPermissionMissing", "Authorization_RequestDenied", "Authentication_ApplicationHasNoReadAuditLogDataAccess":
		return fmt.Errorf("%w: the app registration lacks the Microsoft Graph application permission %s, which reading the sign-in log needs: "+
			"grant it with admin consent (the List signIns reference also lists Directory.Read.All): %w", connectors.ErrCredentials, permReadSignIns, e)
	case "Authentication_ApplicationHasNoDirectoryReadAccess":
		return fmt.Errorf("%w: the app registration lacks the Microsoft Graph application permission Directory.Read.All, which the sign-in log's "+
			"license check needs next to %s: grant it with admin consent: %w", connectors.ErrCredentials, permReadSignIns, e)
	case "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		return fmt.Errorf("the tenant has no Microsoft Entra ID P1 or P2 license, which reading the sign-in log through Microsoft Graph needs: %w", e)
	}
	return err
}
