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
	"io"
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
}

// AccountRef is an account on a connected system.
type AccountRef struct {
	System string `json:"system"`
	ID     string `json:"id"`
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
// longest valid event (its fields' limits add up to about 2 KiB). A longer
// NDJSON line is rejected by its index and skipped without being held.
const MaxEventBytes = 64 << 10

// Parse reads a JSON array or NDJSON of events. Each event is checked on
// its own: a bad one is rejected with its index and the reason, and the
// good ones in the same request are kept. Only a request that is not a
// JSON array or NDJSON at all, or that has too many events, is an error.
func Parse(body []byte, now time.Time, limits Limits) ([]Valid, []Rejection, error) {
	return Decode(bytes.NewReader(body), now, limits)
}

// Decode is Parse over a stream: it reads the events one at a time, so
// it holds one event's text (at most MaxEventBytes for NDJSON; for a JSON
// array, one element) and the events parsed so far, never the whole body.
// It stops reading at the first event past limits.MaxEvents. An error
// reading r, such as *http.MaxBytesError, is returned wrapped.
func Decode(r io.Reader, now time.Time, limits Limits) ([]Valid, []Rejection, error) {
	br := bufio.NewReaderSize(r, MaxEventBytes)
	c := &collector{now: now, limits: limits}
	first, err := firstByte(br)
	switch {
	case errors.Is(err, io.EOF):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading the body: %w", err)
	case first == '[':
		err = c.array(br)
	default:
		err = c.ndjson(br)
	}
	if err != nil {
		return nil, nil, err
	}
	return c.valid, c.rejected, nil
}

// firstByte returns the body's first byte that is not white space,
// leaving it unread.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(b) {
			return b, br.UnreadByte()
		}
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// collector numbers the events and keeps the verdicts.
type collector struct {
	now      time.Time
	limits   Limits
	n        int
	valid    []Valid
	rejected []Rejection
}

// add checks the next event, or rejects it with reason when reason is set.
func (c *collector) add(raw []byte, reason string) error {
	if c.limits.MaxEvents > 0 && c.n >= c.limits.MaxEvents {
		return fmt.Errorf("%w: more than %d", ErrTooManyEvents, c.limits.MaxEvents)
	}
	i := c.n
	c.n++
	if reason == "" {
		c.verdict(i, raw)
	} else {
		c.rejected = append(c.rejected, Rejection{Index: i, Error: reason})
	}
	return nil
}

// verdict accepts or rejects the event at index i.
func (c *collector) verdict(i int, raw []byte) {
	v, err := parseOne(raw, c.now, c.limits)
	if err != nil {
		c.rejected = append(c.rejected, Rejection{Index: i, Error: err.Error()})
		return
	}
	v.Index = i
	c.valid = append(c.valid, v)
}

// array reads a JSON array one element at a time.
func (c *collector) array(br *bufio.Reader) error {
	dec := json.NewDecoder(br)
	notArray := func(err error) error { return fmt.Errorf("the body is not a JSON array of events: %w", err) }
	if _, err := dec.Token(); err != nil { // the '[' firstByte saw
		return notArray(err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return notArray(err)
		}
		if err := c.add(raw, ""); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return notArray(err)
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("%v after the closing bracket", tok)
		}
		return notArray(err)
	}
	return nil
}

// ndjson reads one event a line; blank lines are skipped, and a line
// longer than MaxEventBytes is rejected and skipped.
func (c *collector) ndjson(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			_, err = br.ReadSlice('\n')
		}
		last := errors.Is(err, io.EOF)
		if err != nil && !last {
			return fmt.Errorf("reading NDJSON: %w", err)
		}
		var addErr error
		if tooLong {
			addErr = c.add(nil, fmt.Sprintf("the event is longer than %d bytes", MaxEventBytes))
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			addErr = c.add(line, "")
		}
		if addErr != nil || last {
			return addErr
		}
	}
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

// decodeEvent decodes an event whose text passes the strict checks.
func decodeEvent(raw []byte) (Event, error) {
	var e Event
	if len(raw) > MaxEventBytes {
		return e, fmt.Errorf("the event is longer than %d bytes", MaxEventBytes)
	}
	if !utf8.Valid(raw) {
		return e, errors.New("the event is not valid UTF-8")
	}
	if err := checkKeys(raw, eventKeys, ""); err != nil {
		return e, err
	}
	if !escapesValid(raw) {
		return e, errors.New("the event has a \\u escape of an unpaired UTF-16 surrogate, which is no character")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a sign-in event: %w", err)
	}
	return e, nil
}

// The keys of an event and of its account, exactly as they must be spelt.
var (
	eventKeys = map[string]bool{"contractor": true, "account": true, "ip": true, "time": true,
		"deviceID": true, "userAgent": true, "locale": true, "timezone": true}
	accountKeys = map[string]bool{"system": true, "id": true}
)

// checkKeys walks the JSON object raw and fails on a key that is not in
// allowed, exactly, or that comes twice; the account object is walked
// too. prefix names the object in errors ("" or "account.").
func checkKeys(raw []byte, allowed map[string]bool, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	notEvent := func(err error) error { return fmt.Errorf("not a sign-in event: %w", err) }
	if tok, err := dec.Token(); err != nil {
		return notEvent(err)
	} else if tok != json.Delim('{') {
		return notEvent(fmt.Errorf("want a JSON object, not %s", describeToken(tok)))
	}
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notEvent(err)
		}
		key, _ := tok.(string) // object keys are strings
		switch {
		case !allowed[key]:
			return fmt.Errorf("json: unknown field %s (keys are case-sensitive)", quote(prefix+key))
		case seen[key]:
			return fmt.Errorf("field %s is given twice", quote(prefix+key))
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return notEvent(err)
		}
		if key == "account" && prefix == "" && len(value) > 0 && value[0] == '{' {
			if err := checkKeys(value, accountKeys, "account."); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return notEvent(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return notEvent(errors.New("more JSON after the event"))
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim: // only '[' can start a value that is not an object
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}

// escapesValid reports whether every \u escape in the JSON text raw
// encodes a character: encoding/json turns an unpaired surrogate into
// U+FFFD without a word. raw is valid JSON, so a backslash is always
// inside a string.
func escapesValid(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := escapeAt(raw, i-1)
		i += 4
		switch {
		case !ok || (r >= 0xDC00 && r <= 0xDFFF):
			return false
		case r >= 0xD800 && r < 0xDC00: // a high surrogate needs a low one next
			if lo, ok := escapeAt(raw, i+1); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// escapeAt reads the \uXXXX escape at raw[i:].
func escapeAt(raw []byte, i int) (rune, bool) {
	if i < 0 || i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
	return rune(n), err == nil
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
		}{"account.id", e.Account.ID, 512})
	}
	for _, f := range fields {
		if len(f.value) > f.max {
			return fmt.Errorf("%s is longer than %d bytes", f.name, f.max)
		}
	}
	return nil
}
