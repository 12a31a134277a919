package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Bounds of the stream management client.
const (
	// MaxManagementBytes bounds a metadata or stream management response body.
	MaxManagementBytes = 64 << 10
	// DefaultManagementTimeout bounds one metadata or management request.
	DefaultManagementTimeout = 15 * time.Second
)

// Errors of Discover and StreamClient, wrapped in a *ManagementError or
// returned as they are.
var (
	// ErrCredentialsRefused: the transmitter answered 401 or 403; the
	// bearer token is wrong, expired or lacks a permission.
	ErrCredentialsRefused = errors.New("the transmitter refused the bearer token")
	// ErrStreamNotFound: the transmitter answered 404; the stream is gone.
	ErrStreamNotFound = errors.New("the transmitter has no such stream")
	// ErrStreamConflict: the transmitter answered 409 to a create; it allows
	// one stream per receiver, which exists already.
	ErrStreamConflict = errors.New("the transmitter already has a stream for this receiver")
	// ErrBadMetadata: the transmitter's metadata is unusable: another
	// issuer, an endpoint that is not https, a required member missing.
	ErrBadMetadata = errors.New("unusable transmitter metadata")
	// ErrNotSupported: the transmitter publishes no endpoint for the request.
	ErrNotSupported = errors.New("the transmitter does not support this request")
)

// ManagementError is an error answer of a management endpoint. Its text
// never holds the token or a URL.
type ManagementError struct {
	// Op names the request, such as "create stream".
	Op string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code and Description are the answer's "err" and "description"
	// members, when it has them (bounded).
	Code, Description string
}

// Error describes the answer.
func (e *ManagementError) Error() string {
	msg := fmt.Sprintf("%s: the transmitter answered %d", e.Op, e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Unwrap gives the sentinel of the status code, if any.
func (e *ManagementError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrCredentialsRefused
	case http.StatusNotFound:
		return ErrStreamNotFound
	case http.StatusConflict:
		return ErrStreamConflict
	}
	return nil
}

// WellKnownURL is the metadata URL of issuer (SSF 1.0 §7.2): the well-known
// path inserted between the host and the issuer's path, whose trailing
// slash is removed. issuer must be an https URL without user info, query or
// fragment.
func WellKnownURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: the issuer must be an https URL without user info, query or fragment", ErrBadMetadata)
	}
	return "https://" + u.Host + WellKnownPath + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// Discover reads the transmitter metadata of issuer with hc and checks it:
// its issuer must equal issuer exactly, jwks_uri and configuration_endpoint
// must be present, and every endpoint must be https. The body is bounded by
// MaxManagementBytes and the request by DefaultManagementTimeout.
func Discover(ctx context.Context, hc *http.Client, issuer string) (*TransmitterMetadata, error) {
	wk, err := WellKnownURL(issuer)
	if err != nil {
		return nil, err
	}
	var md TransmitterMetadata
	if err := do(ctx, hc, "read the transmitter metadata", http.MethodGet, wk, "", nil, &md); err != nil {
		return nil, err
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("%w: the metadata names the issuer %q, not %q", ErrBadMetadata, bounded(md.Issuer), issuer)
	}
	if md.JWKSURI == "" || md.ConfigurationEndpoint == "" {
		return nil, fmt.Errorf("%w: jwks_uri and configuration_endpoint are required", ErrBadMetadata)
	}
	for name, e := range map[string]string{
		"jwks_uri": md.JWKSURI, "configuration_endpoint": md.ConfigurationEndpoint,
		"status_endpoint": md.StatusEndpoint, "add_subject_endpoint": md.AddSubjectEndpoint,
		"remove_subject_endpoint": md.RemoveSubjectEndpoint, "verification_endpoint": md.VerificationEndpoint,
	} {
		if e == "" {
			continue
		}
		if u, err := url.Parse(e); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("%w: %s is not an https URL", ErrBadMetadata, name)
		}
	}
	return &md, nil
}

// StreamClient calls a transmitter's stream management API (SSF 1.0 §8)
// with a bearer token.
type StreamClient struct {
	// HTTP makes the requests; it carries the TLS configuration.
	HTTP *http.Client
	// Metadata are the transmitter's, from Discover.
	Metadata *TransmitterMetadata
	// Token is sent as "Authorization: Bearer <Token>". Never in an error.
	Token string
}

// streamRequest holds the receiver-supplied members of a stream
// configuration, and the stream id of an update.
type streamRequest struct {
	StreamID        string          `json:"stream_id,omitempty"`
	EventsRequested []string        `json:"events_requested"`
	Delivery        *StreamDelivery `json:"delivery,omitempty"`
	Description     string          `json:"description,omitempty"`
}

func requestOf(cfg *StreamConfig) streamRequest {
	d := cfg.Delivery
	return streamRequest{StreamID: cfg.StreamID, EventsRequested: cfg.EventsRequested, Delivery: &d, Description: cfg.Description}
}

// Create creates a stream with cfg's receiver-supplied members. A
// transmitter that allows one stream per receiver answers ErrStreamConflict
// when it exists: find it with List and Update it.
func (c *StreamClient) Create(ctx context.Context, cfg *StreamConfig) (*StreamConfig, error) {
	req := requestOf(cfg)
	req.StreamID = ""
	var out StreamConfig
	if err := c.call(ctx, "create stream", http.MethodPost, c.Metadata.ConfigurationEndpoint, nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get reads the stream id.
func (c *StreamClient) Get(ctx context.Context, id string) (*StreamConfig, error) {
	var out StreamConfig
	if err := c.call(ctx, "read stream", http.MethodGet, c.Metadata.ConfigurationEndpoint, url.Values{"stream_id": {id}}, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads the receiver's streams: a transmitter answers an array, or
// one object when it allows one stream.
func (c *StreamClient) List(ctx context.Context) ([]StreamConfig, error) {
	var raw json.RawMessage
	if err := c.call(ctx, "list streams", http.MethodGet, c.Metadata.ConfigurationEndpoint, nil, nil, &raw); err != nil {
		return nil, err
	}
	var many []StreamConfig
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	var one StreamConfig
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("list streams: the answer is no stream configuration")
	}
	return []StreamConfig{one}, nil
}

// Update changes the receiver-supplied members of the stream cfg.StreamID
// (PATCH).
func (c *StreamClient) Update(ctx context.Context, cfg *StreamConfig) (*StreamConfig, error) {
	var out StreamConfig
	if err := c.call(ctx, "update stream", http.MethodPatch, c.Metadata.ConfigurationEndpoint, nil, requestOf(cfg), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes the stream id.
func (c *StreamClient) Delete(ctx context.Context, id string) error {
	return c.call(ctx, "delete stream", http.MethodDelete, c.Metadata.ConfigurationEndpoint, url.Values{"stream_id": {id}}, nil, nil)
}

// Status reads the status of the stream id.
func (c *StreamClient) Status(ctx context.Context, id string) (*StreamStatus, error) {
	if c.Metadata.StatusEndpoint == "" {
		return nil, fmt.Errorf("read stream status: %w", ErrNotSupported)
	}
	var out StreamStatus
	if err := c.call(ctx, "read stream status", http.MethodGet, c.Metadata.StatusEndpoint, url.Values{"stream_id": {id}}, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetStatus asks the transmitter to change a stream's status.
func (c *StreamClient) SetStatus(ctx context.Context, st StreamStatus) (*StreamStatus, error) {
	if c.Metadata.StatusEndpoint == "" {
		return nil, fmt.Errorf("update stream status: %w", ErrNotSupported)
	}
	var out StreamStatus
	if err := c.call(ctx, "update stream status", http.MethodPost, c.Metadata.StatusEndpoint, nil, st, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddSubject adds a subject to a stream.
func (c *StreamClient) AddSubject(ctx context.Context, req SubjectRequest) error {
	if c.Metadata.AddSubjectEndpoint == "" {
		return fmt.Errorf("add subject: %w", ErrNotSupported)
	}
	return c.call(ctx, "add subject", http.MethodPost, c.Metadata.AddSubjectEndpoint, nil, req, nil)
}

// RemoveSubject removes a subject from a stream.
func (c *StreamClient) RemoveSubject(ctx context.Context, req SubjectRequest) error {
	if c.Metadata.RemoveSubjectEndpoint == "" {
		return fmt.Errorf("remove subject: %w", ErrNotSupported)
	}
	return c.call(ctx, "remove subject", http.MethodPost, c.Metadata.RemoveSubjectEndpoint, nil, req, nil)
}

// Verify asks the transmitter for a verification event carrying
// req.State.
func (c *StreamClient) Verify(ctx context.Context, req VerificationRequest) error {
	if c.Metadata.VerificationEndpoint == "" {
		return fmt.Errorf("request verification: %w", ErrNotSupported)
	}
	return c.call(ctx, "request verification", http.MethodPost, c.Metadata.VerificationEndpoint, nil, req, nil)
}

func (c *StreamClient) call(ctx context.Context, op, method, endpoint string, q url.Values, in, out any) error {
	if len(q) > 0 {
		u, err := url.Parse(endpoint)
		if err != nil {
			return fmt.Errorf("%s: %w: the endpoint is no URL", op, ErrBadMetadata)
		}
		u.RawQuery = q.Encode()
		endpoint = u.String()
	}
	err := do(ctx, c.HTTP, op, method, endpoint, c.Token, in, out)
	if err != nil && c.Token != "" && strings.Contains(err.Error(), c.Token) {
		return fmt.Errorf("%s: the request failed (details withheld: they hold the token)", op)
	}
	return err
}

// do makes one request, https only, bounded in time and body, and decodes
// the JSON answer into out when out is not nil.
func do(ctx context.Context, hc *http.Client, op, method, endpoint, token string, in, out any) error {
	if !strings.HasPrefix(endpoint, "https://") {
		return fmt.Errorf("%s: %w: the endpoint is not https", op, ErrBadMetadata)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultManagementTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return fmt.Errorf("%s: building the request failed", op)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxManagementBytes+1))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if len(raw) > MaxManagementBytes {
		return fmt.Errorf("%s: the answer exceeds %d bytes", op, MaxManagementBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return managementError(op, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: the answer is not the expected JSON", op)
	}
	return nil
}

func managementError(op string, status int, raw []byte) error {
	e := &ManagementError{Op: op, StatusCode: status}
	var body struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Code, e.Description = bounded(body.Err), bounded(body.Description)
	}
	return e
}

// bounded is s cut to 200 bytes, for quoting what a server sent: it ends
// in statuses and Events that kubectl prints as they are, so control and
// format characters (escape sequences, bidirectional overrides) are
// dropped and white space runs become one space.
func bounded(s string) string {
	const n = 200
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, ""), unicode.IsSpace), " ")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) && r != ' ' {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
