package ssf

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"
)

// CAEP 1.0 event types (OpenID Continuous Access Evaluation Profile §3).
const (
	// EventSessionRevoked: a session of the subject was revoked.
	EventSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	// EventCredentialChange: a credential was created, changed, revoked or deleted.
	EventCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	// EventAssuranceLevelChange: the authentication assurance level changed.
	EventAssuranceLevelChange = "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change"
	// EventDeviceComplianceChange: a device became compliant or not compliant.
	EventDeviceComplianceChange = "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change"
	// EventTokenClaimsChange: claims in a token issued to the subject changed.
	EventTokenClaimsChange = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
)

// RISC 1.0 event types (OpenID RISC Profile §2).
const (
	// EventAccountDisabled: the account was disabled (see AccountDisabled.Reason).
	EventAccountDisabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	// EventAccountEnabled: a disabled account was enabled again.
	EventAccountEnabled = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	// EventAccountPurged: the account was permanently deleted.
	EventAccountPurged = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	// EventCredentialCompromise: a credential of the subject is compromised.
	EventCredentialCompromise = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise"
	// EventIdentifierChanged: the subject's identifier (email, phone) changed.
	EventIdentifierChanged = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed"
	// EventIdentifierRecycled: the identifier now belongs to someone else.
	EventIdentifierRecycled = "https://schemas.openid.net/secevent/risc/event-type/identifier-recycled"
	// EventSessionsRevoked is deprecated in RISC 1.0 in favour of
	// EventSessionRevoked; it is still decoded, as a SessionRevoked.
	EventSessionsRevoked = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
)

// EventVerification is the SSF 1.0 §8.1.4 stream verification event.
const EventVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"

// Values of event members that this package checks or that callers compare.
const (
	// ReasonHijacking is an account-disabled reason: the account was taken over.
	ReasonHijacking = "hijacking"
	// ReasonBulkAccount is an account-disabled reason: one of many bulk-created accounts.
	ReasonBulkAccount = "bulk-account"
	// StatusCompliant is a device-compliance-change status.
	StatusCompliant = "compliant"
	// StatusNotCompliant is a device-compliance-change status.
	StatusNotCompliant = "not-compliant"
)

// EventCommon holds the members CAEP defines for every event (CAEP §2) and
// the subject member that events carried before SSF moved it to sub_id.
type EventCommon struct {
	// Subject is the event's own "subject" member, if any.
	Subject *SubjectID `json:"subject,omitempty"`
	// EventTimestamp is "event_timestamp": when the event happened.
	EventTimestamp *NumericDate `json:"event_timestamp,omitempty"`
	// InitiatingEntity is "initiating_entity": admin, user, policy or system.
	InitiatingEntity string `json:"initiating_entity,omitempty"`
	// ReasonAdmin is "reason_admin": language tag to text for administrators.
	ReasonAdmin map[string]string `json:"reason_admin,omitempty"`
	// ReasonUser is "reason_user": language tag to text for the end user.
	ReasonUser map[string]string `json:"reason_user,omitempty"`
}

func (c *EventCommon) common() *EventCommon { return c }

// SessionRevoked is the body of a CAEP session-revoked event (and of the
// deprecated RISC sessions-revoked event).
type SessionRevoked struct {
	EventCommon
}

// CredentialChange is the body of a CAEP credential-change event.
type CredentialChange struct {
	EventCommon
	// CredentialType is "credential_type", e.g. password, fido2-roaming, x509.
	CredentialType string `json:"credential_type"`
	// ChangeType is "change_type": create, revoke, update or delete.
	ChangeType string `json:"change_type"`
	// FriendlyName is "friendly_name".
	FriendlyName string `json:"friendly_name,omitempty"`
	// X509Issuer is "x509_issuer".
	X509Issuer string `json:"x509_issuer,omitempty"`
	// X509Serial is "x509_serial".
	X509Serial string `json:"x509_serial,omitempty"`
	// FIDO2AAGUID is "fido2_aaguid".
	FIDO2AAGUID string `json:"fido2_aaguid,omitempty"`
}

// AssuranceLevelChange is the body of a CAEP assurance-level-change event.
type AssuranceLevelChange struct {
	EventCommon
	// Namespace is "namespace", e.g. RFC8176 or NIST-AAL.
	Namespace string `json:"namespace"`
	// CurrentLevel is "current_level".
	CurrentLevel string `json:"current_level"`
	// PreviousLevel is "previous_level".
	PreviousLevel string `json:"previous_level,omitempty"`
	// ChangeDirection is "change_direction": increase or decrease.
	ChangeDirection string `json:"change_direction,omitempty"`
}

// DeviceComplianceChange is the body of a CAEP device-compliance-change event.
type DeviceComplianceChange struct {
	EventCommon
	// CurrentStatus is "current_status": compliant or not-compliant.
	CurrentStatus string `json:"current_status"`
	// PreviousStatus is "previous_status": compliant or not-compliant.
	PreviousStatus string `json:"previous_status"`
}

// TokenClaimsChange is the body of a CAEP token-claims-change event.
type TokenClaimsChange struct {
	EventCommon
	// Claims is "claims": the claims that changed, with their new values.
	Claims map[string]json.RawMessage `json:"claims"`
}

// AccountDisabled is the body of a RISC account-disabled event.
type AccountDisabled struct {
	EventCommon
	// Reason is "reason": ReasonHijacking, ReasonBulkAccount, or absent.
	// Other values are kept: the account is disabled whatever the reason.
	Reason string `json:"reason,omitempty"`
}

// AccountEnabled is the body of a RISC account-enabled event.
type AccountEnabled struct {
	EventCommon
}

// AccountPurged is the body of a RISC account-purged event.
type AccountPurged struct {
	EventCommon
}

// CredentialCompromise is the body of a RISC credential-compromise event.
type CredentialCompromise struct {
	EventCommon
	// CredentialType is "credential_type" (required), e.g. password.
	CredentialType string `json:"credential_type"`
}

// IdentifierChanged is the body of a RISC identifier-changed event.
type IdentifierChanged struct {
	EventCommon
	// NewValue is "new-value": the identifier's new value, if given.
	NewValue string `json:"new-value,omitempty"`
}

// IdentifierRecycled is the body of a RISC identifier-recycled event.
type IdentifierRecycled struct {
	EventCommon
}

// Verification is the body of an SSF verification event.
type Verification struct {
	// State is "state": the value the receiver asked the transmitter to echo.
	State string `json:"state,omitempty"`
}

// Event is one decoded event of a SET.
type Event struct {
	// Type is the event type URI.
	Type string
	// Subject is the event's own subject member if it has one, else the
	// SET's top-level sub_id; nil when neither is present.
	Subject *SubjectID
	// Body is a pointer to one of the event types above, or nil for an
	// event type this package does not know (the receiver ignores those).
	Body any
}

type commoner interface{ common() *EventCommon }

// newBody returns an empty body for a known event type, or nil.
func newBody(uri string) any {
	switch uri {
	case EventSessionRevoked, EventSessionsRevoked:
		return &SessionRevoked{}
	case EventCredentialChange:
		return &CredentialChange{}
	case EventAssuranceLevelChange:
		return &AssuranceLevelChange{}
	case EventDeviceComplianceChange:
		return &DeviceComplianceChange{}
	case EventTokenClaimsChange:
		return &TokenClaimsChange{}
	case EventAccountDisabled:
		return &AccountDisabled{}
	case EventAccountEnabled:
		return &AccountEnabled{}
	case EventAccountPurged:
		return &AccountPurged{}
	case EventCredentialCompromise:
		return &CredentialCompromise{}
	case EventIdentifierChanged:
		return &IdentifierChanged{}
	case EventIdentifierRecycled:
		return &IdentifierRecycled{}
	case EventVerification:
		return &Verification{}
	}
	return nil
}

// DecodeEvents decodes every event of the SET, sorted by type URI, with
// typed bodies for the known types and each event's subject resolved.
func (s *SET) DecodeEvents() ([]Event, error) {
	types := make([]string, 0, len(s.Events))
	for uri := range s.Events {
		types = append(types, uri)
	}
	sort.Strings(types)
	out := make([]Event, 0, len(types))
	for _, uri := range types {
		ev, err := decodeEvent(uri, s.Events[uri], s.Subject)
		if err != nil {
			return nil, fmt.Errorf("event %q: %w", truncate(uri), err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func decodeEvent(uri string, raw json.RawMessage, top *SubjectID) (Event, error) {
	ev := Event{Type: uri, Subject: top, Body: newBody(uri)}
	if ev.Body == nil {
		return ev, nil
	}
	if err := json.Unmarshal(raw, ev.Body); err != nil {
		return Event{}, errors.New("body does not have the event type's shape")
	}
	if c, ok := ev.Body.(commoner); ok && c.common().Subject != nil {
		if err := c.common().Subject.Validate(); err != nil {
			return Event{}, fmt.Errorf("subject: %w", err)
		}
		// One SET, one subject: an event naming another subject than
		// sub_id would let a consumer act on one account and log another.
		if top != nil && !reflect.DeepEqual(*top, *c.common().Subject) {
			return Event{}, errors.New("the event's subject differs from sub_id")
		}
		ev.Subject = c.common().Subject
	}
	if ev.Subject == nil && uri != EventVerification {
		return Event{}, errors.New("no subject: neither sub_id nor the event names one")
	}
	if err := checkBody(ev.Body); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// checkBody checks required members and the closed value sets whose
// meaning a receiver acts on.
func checkBody(body any) error {
	if c, ok := body.(commoner); ok {
		switch c.common().InitiatingEntity {
		case "", "admin", "user", "policy", "system":
		default:
			return errors.New("initiating_entity is not admin, user, policy or system")
		}
	}
	switch b := body.(type) {
	case *DeviceComplianceChange:
		if !isStatus(b.CurrentStatus) || !isStatus(b.PreviousStatus) {
			return errors.New("current_status and previous_status must be compliant or not-compliant")
		}
	case *CredentialChange:
		if b.CredentialType == "" || !oneOf(b.ChangeType, "create", "revoke", "update", "delete") {
			return errors.New("credential_type and a change_type of create, revoke, update or delete are required")
		}
	case *CredentialCompromise:
		if b.CredentialType == "" {
			return errors.New("credential_type is required")
		}
	case *AssuranceLevelChange:
		if b.Namespace == "" || b.CurrentLevel == "" || !oneOf(b.ChangeDirection, "", "increase", "decrease") {
			return errors.New("namespace and current_level are required; change_direction is increase or decrease")
		}
	}
	return nil
}

func isStatus(v string) bool { return oneOf(v, StatusCompliant, StatusNotCompliant) }

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// eventTime is the earliest event_timestamp of the SET's events, or its
// iat when none carries one.
func (s *SET) eventTime() time.Time {
	earliest := s.IssuedAt
	found := false
	for _, raw := range s.Events {
		var common struct {
			EventTimestamp *NumericDate `json:"event_timestamp"`
		}
		if json.Unmarshal(raw, &common) != nil || common.EventTimestamp == nil {
			continue
		}
		if t := common.EventTimestamp.Time; !found || t.Before(earliest) {
			earliest, found = t, true
		}
	}
	return earliest
}
