package ssftx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// errStreamDisabled: a disabled stream takes no events.
var errStreamDisabled = errors.New("the stream is disabled")

// Transition is one change of a contractor's access that receivers hear about.
type Transition struct {
	// ID is the stable id of the transition: identical on every retry of
	// the same transition.
	ID string
	// Email is the contractor's e-mail: the SETs' sub_id (format email).
	Email string
	// Disabled true: CAEP session-revoked and RISC account-disabled;
	// false: RISC account-enabled.
	Disabled bool
	// Reason is the reason_admin text ("en"), cut to MaxReasonBytes; no
	// secrets.
	Reason string
	// Time is the event_timestamp.
	Time time.Time
}

// events are the event types and bodies of a transition.
func (tr Transition) events() map[string]any {
	common := ssf.EventCommon{EventTimestamp: &ssf.NumericDate{Time: tr.Time.UTC()}, InitiatingEntity: "policy"}
	if reason := truncate(tr.Reason, MaxReasonBytes); reason != "" {
		common.ReasonAdmin = map[string]string{"en": reason}
	}
	if tr.Disabled {
		return map[string]any{
			ssf.EventSessionRevoked:  ssf.SessionRevoked{EventCommon: common},
			ssf.EventAccountDisabled: ssf.AccountDisabled{EventCommon: common},
		}
	}
	return map[string]any{ssf.EventAccountEnabled: ssf.AccountEnabled{EventCommon: common}}
}

func (tr Transition) validate() (ssf.SubjectID, error) {
	sub := ssf.SubjectID{Format: ssf.FormatEmail, Email: tr.Email}
	if tr.ID == "" || len(tr.ID) > maxTransitionIDBytes {
		return sub, fmt.Errorf("ssftx: transition ID must be 1 to %d bytes", maxTransitionIDBytes)
	}
	if tr.Time.IsZero() {
		return sub, errors.New("ssftx: transition Time is required")
	}
	if err := sub.Validate(); err != nil {
		return sub, fmt.Errorf("ssftx: transition Email: %w", err)
	}
	return sub, nil
}

// Announce durably queues the transition's events for every stream that is
// not disabled, delivers them and whose subjects include the contractor.
// It is idempotent: each event's jti derives from the transition ID, the
// stream and the event type, and an event already queued or recently
// delivered is not added again. It returns an error if any stream could
// not be written (ErrOutboxFull, wrapped, when an outbox is full); the
// other streams keep their events, and a retry adds only what is missing.
func (t *Transmitter) Announce(ctx context.Context, tr Transition) error {
	sub, err := tr.validate()
	if err != nil {
		return err
	}
	streams, bad, err := t.store.list(ctx, "")
	if err != nil {
		return fmt.Errorf("ssftx: announcing transition %q: %w", tr.ID, err)
	}
	errs := bad
	grew := false
	for _, st := range streams {
		entries, err := t.entriesFor(st, tr, sub)
		if err != nil || len(entries) == 0 {
			errs = append(errs, err)
			continue
		}
		added := 0
		updated, err := t.store.update(ctx, "", st.Config.StreamID, func(st *stream) (bool, error) {
			n := len(st.Outbox)
			write, err := t.appendEntries(st, entries)
			added = len(st.Outbox) - n
			return write, err
		})
		if errors.Is(err, errStreamDisabled) || errors.Is(err, errStreamNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s of receiver %s: %w", st.Config.StreamID, st.Receiver, err))
			continue
		}
		grew = grew || added > 0
		t.cfg.Metrics.addQueued(st.Receiver, added)
		t.cfg.Metrics.setPending(st.Config.StreamID, len(updated.Outbox))
	}
	if grew {
		t.signal()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ssftx: announcing transition %q: %w", tr.ID, err)
	}
	return nil
}

// entriesFor returns the outbox entries st should get for tr, in a fixed
// order (session-revoked before account-disabled), or none.
func (t *Transmitter) entriesFor(st *stream, tr Transition, sub ssf.SubjectID) ([]entry, error) {
	if st.Status.Status == ssf.StreamDisabled || !st.wants(sub) {
		return nil, nil
	}
	var entries []entry
	events := tr.events()
	for _, typ := range []string{ssf.EventSessionRevoked, ssf.EventAccountDisabled, ssf.EventAccountEnabled} {
		body, ok := events[typ]
		if !ok || !slices.Contains(st.Config.EventsDelivered, typ) {
			continue
		}
		e, err := newEntry(tr.ID, st.Config.StreamID, typ, sub, body, t.cfg.Clock.Now())
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// wants reports whether the stream carries the subject: every subject
// while none was added (default_subjects ALL), else the added ones.
func (st *stream) wants(sub ssf.SubjectID) bool {
	return len(st.Subjects) == 0 || slices.ContainsFunc(st.Subjects, func(s ssf.SubjectID) bool { return sameSubject(s, sub) })
}

// appendEntries adds the entries not already queued or recently delivered,
// all or none: ErrOutboxFull when they do not fit (then the status says so
// and is written).
func (t *Transmitter) appendEntries(st *stream, entries []entry) (bool, error) {
	if st.Status.Status == ssf.StreamDisabled {
		return false, errStreamDisabled
	}
	var fresh []entry
	for _, e := range entries {
		if !slices.ContainsFunc(st.Outbox, func(o entry) bool { return o.JTI == e.JTI }) && !slices.Contains(st.Delivered, e.JTI) {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return false, nil
	}
	if len(st.Outbox)+len(fresh) > t.cfg.Limits.MaxOutbox || outboxBytes(st.Outbox)+outboxBytes(fresh) > t.cfg.Limits.MaxOutboxBytes {
		if st.Status.OutboxFull {
			return false, ErrOutboxFull
		}
		st.Status.OutboxFull = true
		return true, ErrOutboxFull
	}
	st.Outbox = append(st.Outbox, fresh...)
	return true, nil
}

// outboxBytes estimates the encoded size of entries: the variable parts
// plus a generous allowance for the fixed ones.
func outboxBytes(entries []entry) int {
	n := 0
	for _, e := range entries {
		n += 256 + len(e.Type) + len(e.Body) + len(e.Subject.Email) + len(e.Subject.ID)
	}
	return n
}

// newEntry makes an outbox entry whose jti and txn derive from the
// transition id.
func newEntry(transitionID, streamID, typ string, sub ssf.SubjectID, body any, now time.Time) (entry, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return entry{}, fmt.Errorf("encoding the %s event: %w", typ, err)
	}
	return entry{JTI: eventJTI(transitionID, streamID, typ), Type: typ, Subject: sub, Body: b,
		Txn: digest32(transitionID), Queued: now.UTC()}, nil
}

// eventJTI is hex SHA-256 of (transition id, stream id, event type), cut
// to 32 characters: the same on every retry of the same transition.
func eventJTI(transitionID, streamID, typ string) string {
	return digest32(transitionID + "\x00" + streamID + "\x00" + typ)
}

func digest32(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:32]
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func randomRead(b []byte) { _, _ = rand.Read(b) }
