// Package webhook enforces grants by sending signed CloudEvents to an HTTP
// receiver, which applies them in a system Portcullis has no connector for.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// Headers of a delivery. The signature is
// "v1=" + hex(HMAC-SHA256(key, timestamp + "." + body)).
const (
	HeaderTimestamp = "Portcullis-Timestamp"
	HeaderSignature = "Portcullis-Signature"
	ContentType     = "application/cloudevents+json"
	// CredentialKey is the key of the signing key in the credentials Secret.
	CredentialKey = "hmacKey"
)

// The CloudEvents types, one for each state a grant's entitlement can reach.
const (
	TypeActivated   = "dev.portcullis.grant.activated"
	TypeQuarantined = "dev.portcullis.grant.quarantined"
	TypeRevoked     = "dev.portcullis.grant.revoked"
	TypeExpired     = "dev.portcullis.grant.expired"
	TypeRemoved     = "dev.portcullis.grant.removed"
)

// EventType returns the CloudEvents type for a state.
func EventType(state accessv1alpha1.GrantState) string {
	switch state {
	case accessv1alpha1.GrantActive:
		return TypeActivated
	case accessv1alpha1.GrantQuarantined:
		return TypeQuarantined
	case accessv1alpha1.GrantRevoked:
		return TypeRevoked
	case accessv1alpha1.GrantExpired:
		return TypeExpired
	}
	return TypeRemoved
}

// Event is a CloudEvents 1.0 event in structured JSON mode.
type Event struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            Data   `json:"data"`
}

// Data is what the receiver needs to apply the state.
type Data struct {
	// Grant is "namespace/name" of the AccessGrant.
	Grant string `json:"grant"`
	// GrantUID identifies the grant across re-creations of the same name.
	GrantUID string `json:"grantUID"`
	// Contractor is the Contractor's name, in the grant's namespace.
	Contractor string `json:"contractor"`
	// Account is the contractor's account on the receiver's system.
	Account string `json:"account"`
	// Entitlement is what the grant gives.
	Entitlement accessv1alpha1.Entitlement `json:"entitlement"`
	// State is the state the entitlement must reach: Active, Quarantined,
	// Revoked, Expired, or empty when the grant was deleted.
	State accessv1alpha1.GrantState `json:"state"`
}

// Connector posts events with its HTTP client. It cannot read state back,
// so it is called only when a grant's state changes; a 2xx answer means the
// receiver applied it.
type Connector struct {
	Clock clock.PassiveClock
	// Transport, when set, replaces the default transport (tests).
	Transport http.RoundTripper
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials lists CredentialKey when the Secret lacks it.
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	return connectors.Missing(data, CredentialKey)
}

// ObservesState is false: a receiver's state cannot be read back.
func (c *Connector) ObservesState() bool { return false }

// Ensure sends the event for state and waits for the receiver's answer.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	settings, err := checkSettings(t.System)
	if err != nil {
		return connectors.Change{}, err
	}
	key := t.Credentials[CredentialKey]
	if len(key) == 0 {
		return connectors.Change{}, fmt.Errorf("the credentials Secret has no %q", CredentialKey)
	}
	ev := c.event(t, state)
	body, err := json.Marshal(ev)
	if err != nil {
		return connectors.Change{}, fmt.Errorf("encoding event: %w", err)
	}
	if err := c.post(ctx, settings, key, body); err != nil {
		return connectors.Change{}, err
	}
	return connectors.Change{Changed: true, Detail: fmt.Sprintf("delivered %s (id %s)", ev.Type, ev.ID)}, nil
}

func (c *Connector) event(t connectors.Target, state accessv1alpha1.GrantState) Event {
	g := t.Grant
	return Event{
		SpecVersion:     "1.0",
		ID:              EventID(string(g.UID), t.Transition, state),
		Source:          "/portcullis/connectedsystems/" + t.System.Name,
		Type:            EventType(state),
		Subject:         g.Namespace + "/" + g.Name,
		Time:            c.Clock.Now().UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		Data: Data{
			Grant: g.Namespace + "/" + g.Name, GrantUID: string(g.UID), Contractor: g.Spec.ContractorRef.Name,
			Account: t.Account, Entitlement: g.Spec.Entitlement, State: state,
		},
	}
}

// EventID is deterministic: the same transition of the same grant always
// has the same id, so a receiver can drop redelivered events.
func EventID(grantUID, transition string, state accessv1alpha1.GrantState) string {
	sum := sha256.Sum256([]byte(grantUID + "\x00" + transition + "\x00" + string(state)))
	return hex.EncodeToString(sum[:16])
}

// Sign returns the signature header value for a timestamp and body.
func Sign(key []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's signature and that its timestamp is within
// tolerance of now: what a receiver does before trusting an event.
func Verify(key []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s: %w", HeaderTimestamp, err)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s is %s away from now", HeaderTimestamp, d)
	}
	if !hmac.Equal([]byte(Sign(key, timestamp, body)), []byte(signature)) {
		return errors.New("signature mismatch")
	}
	return nil
}

func (c *Connector) post(ctx context.Context, s *accessv1alpha1.WebhookSettings, key, body []byte) error {
	timeout := time.Duration(s.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		// url.Parse's error quotes the whole URL.
		return errors.New("building the request to spec.webhook.url")
	}
	ts := strconv.FormatInt(c.Clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(key, ts, body))
	client, err := c.httpClient(s)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", connectors.RedactURL(s.URL), connectors.RedactURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver at %s answered %s", connectors.RedactURL(s.URL), resp.Status)
	}
	return nil
}

// checkSettings refuses, before anything is sent, a url with user info,
// and an http:// url unless spec.insecure is set.
func checkSettings(system *accessv1alpha1.ConnectedSystem) (*accessv1alpha1.WebhookSettings, error) {
	s := system.Spec.Webhook
	if s == nil {
		return nil, errors.New("the system has no webhook settings")
	}
	if _, err := connectors.CheckHTTPURL("spec.webhook.url", s.URL, system.Spec.Insecure, "the events and their signatures"); err != nil {
		return nil, err
	}
	return s, nil
}

// httpClient follows no redirect from https:// to http://, with the
// Transport of tests too.
func (c *Connector) httpClient(s *accessv1alpha1.WebhookSettings) (*http.Client, error) {
	client, err := connectors.HTTPClient(s.CABundle, 0)
	if err != nil {
		return nil, fmt.Errorf("spec.webhook: %w", err)
	}
	if c.Transport != nil {
		client.Transport = c.Transport
	}
	return client, nil
}

// Check sends nothing: it verifies that the receiver's address answers and
// that the signing key is present.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	s, err := checkSettings(system)
	if err != nil {
		return err
	}
	if len(credentials[CredentialKey]) == 0 {
		return fmt.Errorf("the credentials Secret has no %q", CredentialKey)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.URL, nil)
	if err != nil {
		return errors.New("building the request to spec.webhook.url")
	}
	client, err := c.httpClient(s)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reaching %s: %w", connectors.RedactURL(s.URL), connectors.RedactURLError(err))
	}
	_ = resp.Body.Close()
	return nil
}
