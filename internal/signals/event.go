// Package signals turns sign-in events into evidence: it parses and
// validates events, and correlates a contractor's sign-ins into signals
// that become Findings.
package signals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// Event is one sign-in as clients send it.
type Event struct {
	// Contractor is "namespace/name"; set it or Account.
	Contractor string `json:"contractor,omitempty"`
	// Account names the contractor through their account on a system.
	Account *AccountRef `json:"account,omitempty"`
	// IP is the source address of the sign-in.
	IP string `json:"ip"`
	// Time is when the sign-in happened (RFC 3339).
	Time time.Time `json:"time"`
	// DeviceID, UserAgent, Locale and Timezone are optional.
	DeviceID  string `json:"deviceID,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	Locale    string `json:"locale,omitempty"`
	Timezone  string `json:"timezone,omitempty"`
	// Provider is what the identity provider says of the sign-in, when
	// the event comes from its sign-in log.
	Provider *ProviderView `json:"provider,omitempty"`
}

// AccountRef is an account on a connected system.
type AccountRef struct {
	System string `json:"system"`
	ID     string `json:"id"`
	// Aliases are other ids of the same account on the system, such as the
	// provider's user id: at most MaxAliases, each at most
	// MaxAccountIDBytes. The ingester looks the account up by ID and,
	// when no contractor lists it, by each alias in order.
	Aliases []string `json:"aliases,omitempty"`
}

// Valid is an accepted event, with its parsed address and its index in
// the request.
type Valid struct {
	Index int
	Event Event
	Addr  netip.Addr
}

// Rejection says why the event at Index was refused.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Limits bound a request and the events in it.
type Limits struct {
	// MaxEvents is the most events one request may carry.
	MaxEvents int
	// MaxFuture and MaxAge bound an event's time around now.
	MaxFuture time.Duration
	MaxAge    time.Duration
}

// DefaultLimits returns 10,000 events a request and times from 30 days ago
// to 5 minutes ahead (clock skew).
func DefaultLimits() Limits {
	return Limits{MaxEvents: 10000, MaxFuture: 5 * time.Minute, MaxAge: 30 * 24 * time.Hour}
}

// ErrTooManyEvents is returned when a request carries more than MaxEvents.
var ErrTooManyEvents = errors.New("too many events in one request")

// MaxEventBytes bounds one event's JSON text: 64 KiB, far above the
// longest valid event (its fields' limits add up to about 7 KiB). A longer
// NDJSON line is rejected by its index and skipped without being held.
const MaxEventBytes = 64 << 10

// Parse reads a JSON array or NDJSON of events. Each event is checked on
// its own: a bad one is rejected with its index and the reason, and the
// good ones in the same request are kept. Only a request that is not a
// JSON array or NDJSON at all, or that has too many events, is an error.
func Parse(body []byte, now time.Time, limits Limits) ([]Valid, []Rejection, error) {
	return Decode(bytes.NewReader(body), now, limits)
}

// Split cuts a JSON array or NDJSON body into one raw message per event,
// without validating the events.
func Split(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return nil, fmt.Errorf("the body is not a JSON array of events: %w", err)
		}
		return raw, nil
	}
	var raw []json.RawMessage
	scanner := bufio.NewScanner(bytes.NewReader(trimmed))
	scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for scanner.Scan() {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		raw = append(raw, json.RawMessage(bytes.Clone(line)))
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("reading NDJSON: %w", err)
	}
	return raw, nil
}

// parseOne checks one event's text strictly: valid UTF-8, every key one
// of Event's, spelled exactly (encoding/json alone would take "IP" for
// "ip") and given once, then the values.
func parseOne(raw []byte, now time.Time, limits Limits) (Valid, error) {
	e, err := decodeEvent(raw)
	if err != nil {
		return Valid{}, err
	}
	if err := checkLengths(&e); err != nil {
		return Valid{}, err
	}
	if err := checkSubject(&e); err != nil {
		return Valid{}, err
	}
	if err := checkProvider(e.Provider); err != nil {
		return Valid{}, err
	}
	addr, err := parseIP(e.IP)
	if err != nil {
		return Valid{}, err
	}
	if err := checkTime(e.Time, now, limits); err != nil {
		return Valid{}, err
	}
	if e.Timezone != "" {
		if _, err := time.LoadLocation(e.Timezone); err != nil {
			return Valid{}, fmt.Errorf("timezone %s is not an IANA time zone", quote(e.Timezone))
		}
	}
	return Valid{Event: e, Addr: addr}, nil
}

// parseIP parses an event's address: an IPv4 or IPv6 address without a
// zone (a zone names an interface of the sender's host, not a place).
func parseIP(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("ip %s is not an IP address", quote(s))
	case addr.Zone() != "":
		return netip.Addr{}, fmt.Errorf("ip %s has a zone, which names an interface of the sender's host: send the address without it", quote(s))
	}
	return addr.Unmap(), nil
}

// quote quotes a value sent by a client for an error message, cut to 64
// bytes so that a response never echoes much of a request.
func quote(s string) string {
	const maxQuoted = 64
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

func checkSubject(e *Event) error {
	switch {
	case e.Contractor != "" && e.Account != nil:
		return errors.New("set contractor or account, not both")
	case e.Contractor != "":
		if _, err := CheckKey(e.Contractor); err != nil {
			return fmt.Errorf("contractor %s must be namespace/name: %w", quote(e.Contractor), err)
		}
	case e.Account != nil:
		if e.Account.System == "" || e.Account.ID == "" {
			return errors.New("account needs both system and id")
		}
		return checkAliases(e.Account.Aliases)
	default:
		return errors.New("name the contractor (namespace/name) or an account (system and id)")
	}
	return nil
}

func checkTime(t, now time.Time, limits Limits) error {
	switch {
	case t.IsZero():
		return errors.New("time is required (RFC 3339)")
	case limits.MaxFuture > 0 && t.Sub(now) > limits.MaxFuture:
		return fmt.Errorf("time %s is in the future", t.UTC().Format(time.RFC3339))
	case limits.MaxAge > 0 && now.Sub(t) > limits.MaxAge:
		return fmt.Errorf("time %s is older than %s", t.UTC().Format(time.RFC3339), limits.MaxAge)
	}
	return nil
}

func checkLengths(e *Event) error {
	fields := []struct {
		name, value string
		max         int
	}{
		{"contractor", e.Contractor, 317}, {"deviceID", e.DeviceID, 256}, {"userAgent", e.UserAgent, 512},
		{"locale", e.Locale, 35}, {"timezone", e.Timezone, 64},
	}
	if e.Account != nil {
		fields = append(fields, struct {
			name, value string
			max         int
		}{"account.system", e.Account.System, 253}, struct {
			name, value string
			max         int
		}{"account.id", e.Account.ID, MaxAccountIDBytes})
	}
	for _, f := range fields {
		if len(f.value) > f.max {
			return fmt.Errorf("%s is longer than %d bytes", f.name, f.max)
		}
	}
	return nil
}
