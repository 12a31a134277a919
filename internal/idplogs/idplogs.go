// Package idplogs converts identity providers' sign-in exports (Okta's
// System Log, Microsoft Entra's sign-in logs from Microsoft Graph, Google
// Workspace's login activities from the Admin SDK Reports API) into the
// sign-in events of package signals.
//
// Only successful sign-ins become events: a failed attempt shows that
// someone tried the contractor's account from an address, not that the
// contractor was there, and the correlators judge where contractors are.
// Failed sign-ins and every other kind of record are counted as skipped.
//
// The conversion copies fields as the export has them and does not check
// them: the events are validated as any other by signals.Parse (on the
// server, or in the offline pipeline), which rejects an empty or over-long
// field by the event's index among the converted events. The provider's
// own view of a sign-in (signals.ProviderView: its geography, network,
// proxy flag and risk rating) is the exception: it is optional evidence,
// so what of it does not parse or would not pass those checks is left out
// rather than costing the sign-in. The provider's own id of the account
// (Okta's actor.id, Entra's userId, Google's actor.profileId) becomes an
// alias of the account.
package idplogs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// The formats Convert reads.
const (
	Okta   = "okta"
	Entra  = "entra"
	Google = "google"
)

// Formats are the formats Convert reads, in the order help text lists them.
var Formats = []string{Okta, Entra, Google}

// DefaultMaxBytes bounds an export read by the command line: 256 MiB.
const DefaultMaxBytes = 256 << 20

// ErrTooLarge is returned when an export is longer than the limit.
var ErrTooLarge = errors.New("the export is larger than the limit")

// Convert reads an export in format and returns its successful sign-ins as
// events of accounts on the ConnectedSystem named system, and how many
// records it skipped. It reads at most maxBytes from r and returns at most
// signals.DefaultLimits().MaxEvents events; more of either is an error, as
// is JSON that is not well formed or a record whose fields have the wrong
// JSON types.
func Convert(format, system string, r io.Reader, maxBytes int64) (events []signals.Event, skipped int, err error) {
	conv, ok := converters[format]
	if !ok {
		return nil, 0, fmt.Errorf("unknown export format %q: want one of %v", format, Formats)
	}
	if system == "" {
		return nil, 0, fmt.Errorf("%s export: the system the accounts belong to is required", format)
	}
	if maxBytes <= 0 {
		return nil, 0, fmt.Errorf("%s export: the byte limit must be positive", format)
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%s export: %w", format, err)
	}
	if int64(len(body)) > maxBytes {
		return nil, 0, fmt.Errorf("%s export: %w of %d bytes", format, ErrTooLarge, maxBytes)
	}
	recs, err := records(format, body, conv.wrapper)
	if err != nil {
		return nil, 0, err
	}
	maxEvents := signals.DefaultLimits().MaxEvents
	for i, raw := range recs {
		rec, err := conv.convert(raw, system)
		if err != nil {
			return nil, 0, fmt.Errorf("%s export: record %d: %w", format, i, err)
		}
		if !rec.SignIn {
			skipped++
			continue
		}
		if len(events) == maxEvents {
			return nil, 0, fmt.Errorf("%s export: %w: more than %d sign-ins; split the export by time",
				format, signals.ErrTooManyEvents, maxEvents)
		}
		events = append(events, rec.Event)
	}
	return events, skipped, nil
}

// Record is one record of a provider's log.
type Record struct {
	// ID identifies the record in the provider's log: Okta's uuid,
	// Entra's id, Google's id.time and id.uniqueQualifier. Empty when the
	// record has none.
	ID string
	// Time is when the provider says the record happened; zero when it
	// does not say in a form Portcullis reads.
	Time time.Time
	// SignIn is true when the record is a successful sign-in of an
	// account, which Event holds.
	SignIn bool
	Event  signals.Event
}

// ReadRecord converts one record of a provider's log, as a SignInSource
// reads them, into a sign-in of an account on system. An error means the
// record is not one of the format's.
func ReadRecord(format, system string, raw json.RawMessage) (Record, error) {
	conv, ok := converters[format]
	if !ok {
		return Record{}, fmt.Errorf("unknown log format %q: want one of %v", format, Formats)
	}
	return conv.convert(raw, system)
}

// converter reads one format: wrapper is the key of the array of records
// in the provider's response page ("" when there is none), convert turns a
// record into a Record.
type converter struct {
	wrapper string
	convert func(raw json.RawMessage, system string) (Record, error)
}

var converters = map[string]converter{
	Okta:   {convert: fromOkta},
	Entra:  {wrapper: "value", convert: fromEntra},
	Google: {wrapper: "items", convert: fromGoogle},
}

// records cuts an export into its records. The export is a sequence of JSON
// values: a JSON array of records, one record an object (NDJSON), or a
// response page, an object with the array under wrapper; pages and arrays
// may follow one another, as when a paginated download is concatenated.
func records(format string, body []byte, wrapper string) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []json.RawMessage
	for {
		start := dec.InputOffset()
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, malformed(format, dec, err)
		}
		switch v[0] {
		case '[':
			var elems []json.RawMessage
			if err := json.Unmarshal(v, &elems); err != nil {
				return nil, fmt.Errorf("%s export: the array at byte %d: %w", format, start, err)
			}
			out = append(out, elems...)
		case '{':
			elems, isPage, err := page(v, wrapper)
			if err != nil {
				return nil, fmt.Errorf("%s export: the page at byte %d: %w", format, start, err)
			}
			if isPage {
				out = append(out, elems...)
			} else {
				out = append(out, v)
			}
		default:
			return nil, fmt.Errorf("%s export: the value at byte %d is neither a record nor an array of records", format, start)
		}
	}
}

// page returns the records of a response page, and false when obj has no
// key wrapper and so is a record itself.
func page(obj json.RawMessage, wrapper string) ([]json.RawMessage, bool, error) {
	if wrapper == "" {
		return nil, false, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return nil, false, err
	}
	list, ok := fields[wrapper]
	if !ok {
		return nil, false, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(list, &elems); err != nil {
		return nil, false, fmt.Errorf("%q is not an array of records", wrapper)
	}
	return elems, true, nil
}

// malformed names the byte where the JSON went wrong.
func malformed(format string, dec *json.Decoder, err error) error {
	offset := dec.InputOffset()
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		offset = syntax.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s export: malformed JSON: it ends inside a value, after byte %d", format, offset)
	}
	return fmt.Errorf("%s export: malformed JSON near byte %d: %w", format, offset, err)
}

// errNoAccount marks a record that names no account: a service
// principal's or a workload's sign-in, which is no contractor's.
var errNoAccount = errors.New("the record names no account")

// keep turns event's answer into a converter's: a record that names no
// account is skipped, not an error.
func keep(id string, ev signals.Event, err error) (Record, error) {
	switch {
	case errors.Is(err, errNoAccount):
		return Record{ID: id, Time: ev.Time}, nil
	case err != nil:
		return Record{ID: id}, err
	}
	return Record{ID: id, Time: ev.Time, SignIn: true, Event: ev}, nil
}

// timeOf reads an RFC 3339 time, zero when it is not one.
func timeOf(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// event is the event of account id on system from ip at the RFC 3339 time
// at, which the export calls field.
func event(system, id, ip, at, field string) (signals.Event, error) {
	ev := signals.Event{Account: &signals.AccountRef{System: system, ID: id}, IP: ip}
	if strings.TrimSpace(id) == "" {
		return ev, errNoAccount
	}
	if err := ev.Time.UnmarshalText([]byte(at)); err != nil {
		return ev, fmt.Errorf("%s %q is not an RFC 3339 time", field, truncate(at, 64))
	}
	return ev, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
