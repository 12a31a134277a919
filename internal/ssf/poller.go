package ssf

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Defaults and limits of a Poller.
const (
	// DefaultPollMaxEvents is the maxEvents of a poll request.
	DefaultPollMaxEvents = 100
	// MaxPollMaxEvents bounds PollConfig.MaxEvents.
	MaxPollMaxEvents = 1000
	// DefaultPollTimeout bounds one poll request, including a long poll's
	// wait, and separately the handling of the SETs it returned.
	DefaultPollTimeout = 60 * time.Second
	// MaxPollResponseBytes caps the default bound of a poll response body.
	MaxPollResponseBytes = 32 << 20
	// pollOverheadBytes is the room allowed per SET for its jti and JSON.
	pollOverheadBytes = 1 << 10
)

// Errors of Poll.
var (
	// ErrPollTokenRefused: the transmitter answered 401 or 403; the bearer
	// token is wrong, expired or revoked. Retrying with it will not help.
	ErrPollTokenRefused = errors.New("the transmitter refused the poll bearer token")
	// ErrPollUnavailable: the poll request failed on the network, timed out
	// or was answered 429 or 5xx. Poll again later; nothing is lost.
	ErrPollUnavailable = errors.New("poll endpoint unavailable, retry later")
)

// PollConfig configures a Poller. URL, Client, Token, Verifier and Sink are
// required.
type PollConfig struct {
	// URL is the transmitter's poll endpoint (the stream's
	// delivery.endpoint_url); https only.
	URL string
	// Client makes the requests. It is copied; the copy follows redirects
	// to https URLs only, at most 3.
	Client *http.Client
	// Token is sent as "Authorization: Bearer <Token>". Never logged.
	Token string
	// Verifier verifies each SET and records accepted jtis.
	Verifier *Verifier
	// Sink receives each accepted SET.
	Sink Sink
	// MaxEvents is the maxEvents of each request: 1 to MaxPollMaxEvents.
	// Default DefaultPollMaxEvents.
	MaxEvents int
	// Timeout bounds the request (a long poll's wait included) and,
	// separately, the handling of the SETs it returned. Default
	// DefaultPollTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds the response body. Default MaxEvents times
	// the Verifier's MaxBytes plus room for the JSON, at most
	// MaxPollResponseBytes.
	MaxResponseBytes int64
	// ReturnImmediately is the returnImmediately of each request: false
	// asks the transmitter to wait for SETs (a long poll).
	ReturnImmediately bool
}

// PollResult is what one Poll did.
type PollResult struct {
	// Received is the number of SETs in the response.
	Received int
	// Accepted is the number acknowledged: handed to the sink and recorded,
	// or already recorded before.
	Accepted int
	// Refused is the number reported in setErrs.
	Refused int
	// Deferred is the number neither acknowledged nor refused (keys
	// unavailable, sink failing, replay store full, out of time); the
	// transmitter returns them again on a later poll.
	Deferred int
	// MoreAvailable is the response's moreAvailable.
	MoreAvailable bool
}

// Poller receives SETs by RFC 8936 poll delivery, by the same rules as
// PushHandler: a SET the Verifier refuses is reported in setErrs with its
// RFC 8935 error code; an authentic SET whose jti was already recorded is
// acknowledged without calling the sink again; any other SET is handed to
// the sink, recorded with Verifier.Accept and then acknowledged; a failure
// that is not the transmitter's leaves the SET unacknowledged so that the
// transmitter returns it on a later poll.
//
// The acknowledgements and errors of one Poll are sent with the next
// request. When a request fails they are kept and sent again, so none is
// lost. Calls to Poll are serialized; a Poller is safe for concurrent use.
// As with PushHandler, a sink that succeeded on a SET whose jti could then
// not be recorded may see it again.
type Poller struct {
	url       string
	client    *http.Client
	token     string
	verifier  *Verifier
	sink      Sink
	maxEvents int
	timeout   time.Duration
	maxBody   int64
	immediate bool

	mu      sync.Mutex // held for a whole Poll; guards ack and setErrs
	ack     []string
	setErrs map[string]Error
}

// NewPoller checks cfg and returns a Poller. It does no I/O.
func NewPoller(cfg PollConfig) (*Poller, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("ssf poller: URL must be an absolute https URL")
	}
	if cfg.Client == nil || cfg.Verifier == nil || cfg.Sink == nil || cfg.Token == "" {
		return nil, errors.New("ssf poller: Client, Token, Verifier and Sink are required")
	}
	if err := cfg.Verifier.checkConfig(); err != nil {
		return nil, err
	}
	maxEvents := cmpOr(cfg.MaxEvents, DefaultPollMaxEvents)
	if maxEvents > MaxPollMaxEvents {
		return nil, fmt.Errorf("ssf poller: MaxEvents must be at most %d", MaxPollMaxEvents)
	}
	maxBody := cfg.MaxResponseBytes
	if maxBody <= 0 {
		perSET := int64(cmpOr(cfg.Verifier.MaxBytes, DefaultMaxBytes) + pollOverheadBytes)
		maxBody = min(int64(maxEvents)*perSET+pollOverheadBytes, MaxPollResponseBytes)
	}
	client := *cfg.Client
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errors.New("the poll URL redirects to a URL that is not https")
		}
		if len(via) >= 3 {
			return errors.New("the poll URL redirects more than 3 times")
		}
		return nil
	}
	return &Poller{
		url: cfg.URL, client: &client, token: cfg.Token, verifier: cfg.Verifier, sink: cfg.Sink,
		maxEvents: maxEvents, timeout: cmpOr(cfg.Timeout, DefaultPollTimeout), maxBody: maxBody,
		immediate: cfg.ReturnImmediately, setErrs: map[string]Error{},
	}, nil
}

// pollRequest is an RFC 8936 §2.4 poll request.
type pollRequest struct {
	Ack               []string         `json:"ack"`
	SetErrs           map[string]Error `json:"setErrs"`
	MaxEvents         int              `json:"maxEvents"`
	ReturnImmediately bool             `json:"returnImmediately"`
}

// pollResponse is an RFC 8936 §2.5 poll response.
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// Poll makes one poll request carrying the acknowledgements and errors of
// the SETs handled by the previous call, then handles the SETs returned.
// It returns ErrPollTokenRefused or ErrPollUnavailable (wrapped) when the
// request fails that way; the acknowledgements are then kept for the next
// call. Errors never contain a token.
func (p *Poller) Poll(ctx context.Context) (PollResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	resp, err := p.exchange(ctx)
	if err != nil {
		return PollResult{}, err
	}
	hctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res := PollResult{Received: len(resp.Sets), MoreAvailable: resp.MoreAvailable}
	var verified []*SET
	deferred := false
	for i, jti := range slices.Sorted(maps.Keys(resp.Sets)) {
		if i >= p.maxEvents || hctx.Err() != nil {
			res.Deferred++
			deferred = true
			continue
		}
		set, ok := p.verify(hctx, jti, []byte(resp.Sets[jti]), &res)
		deferred = deferred || !ok
		if set != nil {
			verified = append(verified, set)
		}
	}
	// A poll response is a JSON object: it says nothing of the SETs' order.
	// They are acted on in the order of their events, and none after one
	// that could not be acted on now, so that an older event (a disable)
	// never overtakes a newer one (the enable that lifts it): the
	// transmitter returns the rest on a later poll.
	sortByEventTime(verified)
	for _, set := range verified {
		if deferred || hctx.Err() != nil {
			res.Deferred++
			continue
		}
		deferred = !p.act(hctx, set, &res)
	}
	return res, nil
}

// exchange sends the pending acknowledgements and errors and reads the
// response. The pending ones are forgotten once the transmitter answered
// 200: it has applied them.
func (p *Poller) exchange(ctx context.Context) (*pollResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	body, err := json.Marshal(pollRequest{
		Ack: append([]string{}, p.ack...), SetErrs: p.setErrs, MaxEvents: p.maxEvents, ReturnImmediately: p.immediate,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the poll request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("ssf poller: cannot build the poll request")
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL's error without the URL, as for the JWKS.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%w: %w", ErrPollUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := statusError(resp.StatusCode); err != nil {
		return nil, err
	}
	p.ack, p.setErrs = nil, map[string]Error{}
	return p.readResponse(resp.Body)
}

// statusError maps a poll response status to Poll's error.
func statusError(status int) error {
	switch {
	case status == http.StatusOK:
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%w: HTTP %d", ErrPollTokenRefused, status)
	case status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("%w: HTTP %d", ErrPollUnavailable, status)
	default:
		return fmt.Errorf("poll request refused: HTTP %d", status)
	}
}

// readResponse reads and decodes a bounded poll response body.
func (p *Poller) readResponse(body io.Reader) (*pollResponse, error) {
	data, err := io.ReadAll(io.LimitReader(body, p.maxBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: reading the poll response: %w", ErrPollUnavailable, err)
	case int64(len(data)) > p.maxBody:
		return nil, fmt.Errorf("poll response larger than %d bytes", p.maxBody)
	}
	var resp pollResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, errors.New("poll response is not a valid RFC 8936 JSON object")
	}
	return &resp, nil
}

// handle verifies one SET and acts on it, recording the outcome for the
// next request and in res.
// verify checks one SET of a response. It returns the SET when it is to be
// acted on; refused SETs are queued in setErrs and SETs accepted before are
// acknowledged again. ok is false when the SET could not be checked now.
func (p *Poller) verify(ctx context.Context, jti string, token []byte, res *PollResult) (set *SET, ok bool) {
	log := logr.FromContextOrDiscard(ctx).WithValues("jti", jti)
	set, err := p.verifier.verifyToken(ctx, token)
	var setErr *Error
	switch {
	case errors.As(err, &setErr):
		p.refuse(jti, setErr, res)
		return nil, true
	case err != nil:
		log.Error(err, "Cannot verify SET")
		res.Deferred++
		return nil, false
	case set.JTI != jti:
		p.refuse(jti, newError(CodeInvalidRequest, "sets key is not the SET's jti"), res)
		return nil, true
	}
	switch err := p.verifier.checkReplay(ctx, set); {
	case errors.Is(err, ErrReplay):
		p.acknowledge(jti, res) // already accepted: acknowledge again
		return nil, true
	case err != nil:
		log.Error(err, "Cannot check SET for replay")
		res.Deferred++
		return nil, false
	}
	return set, true
}

// act hands a verified SET to the sink and records it; false when that
// failed and the SET is left for the transmitter to return.
func (p *Poller) act(ctx context.Context, set *SET, res *PollResult) bool {
	log := logr.FromContextOrDiscard(ctx).WithValues("jti", set.JTI)
	if err := p.sink.Receive(ctx, set); err != nil {
		log.Error(err, "SET sink failed")
		res.Deferred++
		return false
	}
	if err := p.verifier.Accept(ctx, set); err != nil {
		log.Error(err, "Cannot record accepted SET")
		res.Deferred++
		return false
	}
	p.acknowledge(set.JTI, res)
	return true
}

// sortByEventTime orders SETs by the earliest event_timestamp of their
// events (their iat when they carry none), then by iat, then by jti.
func sortByEventTime(sets []*SET) {
	at := make(map[*SET]time.Time, len(sets))
	for _, s := range sets {
		at[s] = s.eventTime()
	}
	slices.SortStableFunc(sets, func(a, b *SET) int {
		return cmp.Or(at[a].Compare(at[b]), a.IssuedAt.Compare(b.IssuedAt), cmp.Compare(a.JTI, b.JTI))
	})
}

// acknowledge queues jti's acknowledgement for the next request.
func (p *Poller) acknowledge(jti string, res *PollResult) {
	p.ack = append(p.ack, jti)
	res.Accepted++
}

// refuse queues jti's error for the next request.
func (p *Poller) refuse(jti string, e *Error, res *PollResult) {
	p.setErrs[jti] = *e
	res.Refused++
}
