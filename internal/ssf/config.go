package ssf

import (
	"encoding/json"
	"errors"
)

// The wire shapes of the SSF 1.0 transmitter metadata (§7.1) and stream
// management API (§8), shared by the receiver's client and Portcullis's own
// transmitter.

// Delivery methods (SSF 1.0 §6.1): the URNs of RFC 8935 and RFC 8936.
const (
	// MethodPush: the transmitter POSTs each SET to the receiver's endpoint.
	MethodPush = "urn:ietf:rfc:8935"
	// MethodPoll: the receiver polls the transmitter's endpoint for SETs.
	MethodPoll = "urn:ietf:rfc:8936"
)

// Stream statuses (SSF 1.0 §8.1.2).
const (
	// StreamEnabled: the transmitter sends events.
	StreamEnabled = "enabled"
	// StreamPaused: the transmitter holds events and sends them when the
	// stream is enabled again.
	StreamPaused = "paused"
	// StreamDisabled: the transmitter neither sends nor holds events.
	StreamDisabled = "disabled"
)

// WellKnownPath is where a transmitter publishes its metadata, relative to
// the host of its issuer; an issuer with a path appends it (§7.2).
const WellKnownPath = "/.well-known/ssf-configuration"

// TransmitterMetadata is the document at WellKnownPath (SSF 1.0 §7.1).
type TransmitterMetadata struct {
	// SpecVersion is "spec_version", e.g. "1_0".
	SpecVersion string `json:"spec_version,omitempty"`
	// Issuer is "issuer": the "iss" of every SET; must equal the issuer the
	// metadata was fetched for.
	Issuer string `json:"issuer"`
	// JWKSURI is "jwks_uri": the transmitter's signing keys.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// DeliveryMethodsSupported is "delivery_methods_supported".
	DeliveryMethodsSupported []string `json:"delivery_methods_supported,omitempty"`
	// ConfigurationEndpoint is "configuration_endpoint": stream create,
	// read, update, replace and delete.
	ConfigurationEndpoint string `json:"configuration_endpoint,omitempty"`
	// StatusEndpoint is "status_endpoint".
	StatusEndpoint string `json:"status_endpoint,omitempty"`
	// AddSubjectEndpoint is "add_subject_endpoint".
	AddSubjectEndpoint string `json:"add_subject_endpoint,omitempty"`
	// RemoveSubjectEndpoint is "remove_subject_endpoint".
	RemoveSubjectEndpoint string `json:"remove_subject_endpoint,omitempty"`
	// VerificationEndpoint is "verification_endpoint".
	VerificationEndpoint string `json:"verification_endpoint,omitempty"`
	// CriticalSubjectMembers is "critical_subject_members".
	CriticalSubjectMembers []string `json:"critical_subject_members,omitempty"`
	// AuthorizationSchemes is "authorization_schemes": objects whose
	// "spec_urn" names a scheme, e.g. urn:ietf:rfc:6750 for bearer tokens.
	AuthorizationSchemes []AuthorizationScheme `json:"authorization_schemes,omitempty"`
	// DefaultSubjects is "default_subjects": ALL or NONE, the subjects a new
	// stream carries before any is added.
	DefaultSubjects string `json:"default_subjects,omitempty"`
}

// AuthorizationScheme is one entry of "authorization_schemes".
type AuthorizationScheme struct {
	// SpecURN is "spec_urn".
	SpecURN string `json:"spec_urn"`
}

// SchemeBearer is the spec_urn of OAuth 2.0 bearer tokens (RFC 6750).
const SchemeBearer = "urn:ietf:rfc:6750"

// StreamConfig is a stream configuration (SSF 1.0 §8.1.1). Members marked
// transmitter-supplied are ignored in requests.
type StreamConfig struct {
	// StreamID is "stream_id", transmitter-supplied.
	StreamID string `json:"stream_id"`
	// Issuer is "iss", transmitter-supplied.
	Issuer string `json:"iss"`
	// Audience is "aud", transmitter-supplied: a string or, decoded from
	// some transmitters, an array; see AudienceList.
	Audience Audience `json:"aud"`
	// EventsSupported is "events_supported", transmitter-supplied.
	EventsSupported []string `json:"events_supported"`
	// EventsRequested is "events_requested", receiver-supplied.
	EventsRequested []string `json:"events_requested"`
	// EventsDelivered is "events_delivered", transmitter-supplied: the
	// requested events the transmitter supports.
	EventsDelivered []string `json:"events_delivered"`
	// Delivery is "delivery".
	Delivery StreamDelivery `json:"delivery"`
	// MinVerificationInterval is "min_verification_interval" in seconds,
	// transmitter-supplied.
	MinVerificationInterval int `json:"min_verification_interval,omitempty"`
	// Description is "description", receiver-supplied.
	Description string `json:"description,omitempty"`
}

// StreamDelivery is the "delivery" member of a stream configuration.
type StreamDelivery struct {
	// Method is "method": MethodPush or MethodPoll.
	Method string `json:"method"`
	// EndpointURL is "endpoint_url": the receiver's URL for push, the
	// transmitter's poll URL (transmitter-supplied) for poll.
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is "authorization_header": for push, sent
	// verbatim as the Authorization header of each push request. A secret.
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// StreamStatus is the body of the status endpoint (SSF 1.0 §8.1.2).
type StreamStatus struct {
	// StreamID is "stream_id".
	StreamID string `json:"stream_id"`
	// Status is "status": StreamEnabled, StreamPaused or StreamDisabled.
	Status string `json:"status"`
	// Reason is "reason": why the status changed, for people.
	Reason string `json:"reason,omitempty"`
}

// SubjectRequest is the body of the add and remove subject endpoints
// (SSF 1.0 §8.1.3).
type SubjectRequest struct {
	// StreamID is "stream_id".
	StreamID string `json:"stream_id"`
	// Subject is "subject".
	Subject *SubjectID `json:"subject"`
	// Verified is "verified" (add only): whether the receiver verified the
	// subject's identity.
	Verified *bool `json:"verified,omitempty"`
}

// VerificationRequest is the body of the verification endpoint (SSF 1.0
// §8.1.4): the transmitter answers with a verification event carrying State.
type VerificationRequest struct {
	// StreamID is "stream_id".
	StreamID string `json:"stream_id"`
	// State is "state", echoed in the verification event.
	State string `json:"state,omitempty"`
}

// Audience is "aud": a string on the wire, or an array from transmitters
// that follow the JWT rule for aud.
type Audience []string

// MarshalJSON encodes one audience as a string and several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON decodes a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New(`"aud" must be a string or an array of strings`)
	}
	*a = many
	return nil
}
