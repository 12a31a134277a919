package ssf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Bounds on the claims of a SET, on top of the token's size bound.
const (
	maxEvents   = 16
	maxAudience = 16
	maxJTILen   = 256
)

// SET is a verified Security Event Token (RFC 8417) as SSF 1.0 profiles it:
// the subject is the top-level sub_id claim (RFC 9493 §4), or the subject
// member of an event where the transmitter follows the older CAEP and RISC
// drafts.
type SET struct {
	// Issuer is the "iss" claim: the transmitter.
	Issuer string
	// Audience is the "aud" claim: one or more receivers.
	Audience []string
	// IssuedAt is the "iat" claim.
	IssuedAt time.Time
	// JTI is the "jti" claim: unique per issuer; a receiver accepts it once.
	JTI string
	// TxnID is the "txn" claim: the transaction the event belongs to, if any.
	// A numeric txn (seen in published examples) is kept as its decimal text.
	TxnID string
	// Subject is the top-level "sub_id" claim, if any.
	Subject *SubjectID
	// Events is the "events" claim: event type URI to event body (a JSON
	// object). DecodeEvents gives typed bodies for the known types.
	Events map[string]json.RawMessage
}

// wireClaims is the JWT claims set as it arrives. Pointers tell a missing
// claim from a zero one.
type wireClaims struct {
	Iss    string                     `json:"iss"`
	Aud    json.RawMessage            `json:"aud"`
	Iat    *float64                   `json:"iat"`
	Exp    *float64                   `json:"exp"`
	Jti    string                     `json:"jti"`
	Txn    json.RawMessage            `json:"txn"`
	Sub    *string                    `json:"sub"`
	SubID  *SubjectID                 `json:"sub_id"`
	Events map[string]json.RawMessage `json:"events"`
}

// outClaims is the JWT claims set as a Signer writes it.
type outClaims struct {
	Iss    string                     `json:"iss"`
	Aud    any                        `json:"aud,omitempty"`
	Iat    int64                      `json:"iat"`
	Jti    string                     `json:"jti"`
	Txn    string                     `json:"txn,omitempty"`
	SubID  *SubjectID                 `json:"sub_id,omitempty"`
	Events map[string]json.RawMessage `json:"events"`
}

// parseClaims decodes a verified payload. The caller checks the values.
func parseClaims(payload []byte) (*wireClaims, error) {
	var c wireClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errors.New("claims are not a JSON object of the expected shape")
	}
	return &c, nil
}

// audience decodes "aud": a string or an array of strings (RFC 7519 §4.1.3).
func (c *wireClaims) audience() ([]string, error) {
	if len(c.Aud) == 0 || bytes.Equal(c.Aud, []byte("null")) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(c.Aud, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(c.Aud, &many); err != nil {
		return nil, errors.New("aud is neither a string nor an array of strings")
	}
	if len(many) > maxAudience {
		return nil, fmt.Errorf("aud lists more than %d audiences", maxAudience)
	}
	return many, nil
}

// txn decodes "txn": a string, or a number kept as its decimal text.
func (c *wireClaims) txn() (string, error) {
	if len(c.Txn) == 0 || bytes.Equal(c.Txn, []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(c.Txn, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(c.Txn, &n); err != nil {
		return "", errors.New("txn is neither a string nor a number")
	}
	return n.String(), nil
}

// checkEvents requires 1 to maxEvents events, each a JSON object under a
// non-empty type URI (RFC 8417 §2.2).
func checkEvents(events map[string]json.RawMessage) error {
	if len(events) == 0 {
		return errors.New("events claim is missing or empty")
	}
	if len(events) > maxEvents {
		return fmt.Errorf("more than %d events", maxEvents)
	}
	for uri, body := range events {
		if uri == "" || len(uri) > maxURILen {
			return errors.New("event type URI is empty or too long")
		}
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return fmt.Errorf("event %q is not a JSON object", truncate(uri))
		}
	}
	return nil
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional).
func numericDate(v float64) (time.Time, error) {
	// Year 1970 to year 5138 in seconds: anything outside is not a date a
	// SET can honestly carry, and would overflow time.Duration arithmetic.
	if math.IsNaN(v) || v < 0 || v >= 1e11 {
		return time.Time{}, errors.New("date out of range")
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// NumericDate is a JWT NumericDate in an event body (CAEP event_timestamp).
// It decodes seconds since the epoch; a value too large to be seconds
// (≥ 1e11, year 5138) is read as milliseconds, because some published CAEP
// examples send milliseconds.
type NumericDate struct {
	// Time is the instant, in UTC.
	Time time.Time
}

// UnmarshalJSON decodes a JSON number of seconds (or milliseconds).
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("timestamp is not a number")
	}
	if v >= 1e11 {
		v /= 1000
	}
	t, err := numericDate(v)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	d.Time = t
	return nil
}

// MarshalJSON encodes whole seconds since the epoch.
func (d NumericDate) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Time.Unix())
}
