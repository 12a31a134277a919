package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/idplogs"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// The bounds of a poll's window.
const (
	// maxSourceWindow is the longest window one poll reads; a source that
	// is further behind catches up one window at a time.
	maxSourceWindow = 24 * time.Hour
	// minSourceWindow is the shortest window a poll halves down to when a
	// window holds more records than it may hold.
	minSourceWindow = time.Second
	// maxSeen bounds status.cursor.seen (the CRD's MaxItems).
	maxSeen = 8192
	// ingestChunk is how many sign-ins one call to the ingester carries.
	ingestChunk = 1000
)

// pollResult is what one successful poll did.
type pollResult struct {
	cursor  *accessv1alpha1.SignInCursor
	result  signals.Result
	skipped int
}

// poll reads the window after the cursor, stores its new sign-ins and
// returns the cursor after it. On error the cursor stays where it was.
func (r *SignInSourceReconciler) poll(ctx context.Context, src *accessv1alpha1.SignInSource, t logTarget) (pollResult, error) {
	// The providers' records have milliseconds: so do the windows, so
	// that a record on a window's edge is in exactly one of two windows.
	now := r.Clock.Now().Truncate(time.Millisecond)
	from, until, to := r.window(src, now)
	recs, readFrom, to, err := r.read(ctx, t, from, until, to)
	if err != nil {
		return pollResult{}, err
	}
	res, fresh, read := r.classify(ctx, string(t.system.Spec.Type), t.system.Name, recs, seenSet(src.Status.Cursor), to)
	if res.result, err = r.store(ctx, fresh); err != nil {
		return pollResult{}, err
	}
	var carry []string
	if readFrom.After(from) && src.Status.Cursor != nil {
		// The late part was not read again: what was seen of it stays
		// seen, or the next poll, which reads it, would take it for new.
		carry = src.Status.Cursor.Seen
	}
	res.cursor = nextCursor(read, later(to, until), lateArrival(src), carry)
	return res, nil
}

// classify splits a window's records into the sign-ins not seen before and
// the rest, and returns the digest and time of every record read. A record
// that is not one of the format's is skipped, not fatal: one odd record
// must not stop the source for good. Records without a time of their own
// are kept as seen as long as the window they came in (to).
func (r *SignInSourceReconciler) classify(ctx context.Context, format, system string, recs []json.RawMessage,
	seen map[string]bool, to time.Time) (pollResult, []signals.Event, map[string]time.Time) {
	var res pollResult
	var fresh []signals.Event
	read := make(map[string]time.Time, len(recs))
	for i, raw := range recs {
		rec, err := idplogs.ReadRecord(format, system, raw)
		if err != nil {
			ctrl.LoggerFrom(ctx).Info("Skipping a record of the sign-in log that Portcullis cannot read",
				"format", format, "index", i, "error", err.Error())
		}
		d := digest(rec.ID, raw)
		at := rec.Time
		if at.IsZero() {
			at = to
		}
		_, dup := read[d]
		read[d] = at
		switch {
		case dup || seen[d]:
		case err != nil || !rec.SignIn:
			res.skipped++
		default:
			fresh = append(fresh, rec.Event)
		}
	}
	return res, fresh, read
}

// window is the poll's window [from, to) and the cursor's until: from
// lateArrival before until (or initialLookback before now at the first
// poll) to now, but no further than maxSourceWindow past until.
func (r *SignInSourceReconciler) window(src *accessv1alpha1.SignInSource, now time.Time) (from, until, to time.Time) {
	if c := src.Status.Cursor; c != nil {
		until = c.Until.Time
		from = until.Add(-lateArrival(src))
	} else {
		from = now.Add(-time.Duration(src.Spec.InitialLookbackSeconds) * time.Second)
		until = from
	}
	to = now
	if to.Sub(until) > maxSourceWindow {
		to = until.Add(maxSourceWindow)
	}
	return from, until, later(to, from)
}

// read reads [from, to). A window that holds too many records first stops
// reading again before until, then halves, down to minSourceWindow.
func (r *SignInSourceReconciler) read(ctx context.Context, t logTarget, from, until, to time.Time) ([]json.RawMessage, time.Time, time.Time, error) {
	maxRecords := r.MaxRecords
	if maxRecords <= 0 {
		maxRecords = DefaultSourceMaxRecords
	}
	for {
		recs, err := t.log.ReadSignIns(ctx, connectors.LogQuery{System: t.system, Credentials: t.creds, From: from, To: to, Max: maxRecords})
		switch {
		case err == nil:
			return recs, from, to, nil
		case !errors.Is(err, connectors.ErrTooManyRecords):
			return nil, from, to, err
		case from.Before(until):
			// Reading the late arrivals again is a courtesy a busy log
			// cannot afford this time.
			from = until
			to = later(to, from.Add(minSourceWindow))
		case to.Sub(from) > minSourceWindow:
			to = from.Add(to.Sub(from) / 2)
		default:
			return nil, from, to, fmt.Errorf("the log holds more than %d records in the %s from %s: %w",
				maxRecords, minSourceWindow, from.UTC().Format(time.RFC3339Nano), err)
		}
	}
}

// store hands the sign-ins to the ingester, oldest first, in chunks.
func (r *SignInSourceReconciler) store(ctx context.Context, events []signals.Event) (signals.Result, error) {
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	var total signals.Result
	for chunk := range slices.Chunk(events, ingestChunk) {
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for _, e := range chunk {
			if err := enc.Encode(e); err != nil {
				return total, err
			}
		}
		res, err := r.Ingester.Ingest(ctx, body.Bytes())
		total.AddCounts(res)
		total.Rejected = append(total.Rejected, res.Rejected...)
		if err != nil {
			return total, fmt.Errorf("storing the sign-ins: %w", err)
		}
	}
	return total, nil
}

// nextCursor is the cursor after a window read up to until: the digests
// of the window's records published at or after until minus late (those
// the next poll reads again), newest first, then carry, at most maxSeen.
func nextCursor(read map[string]time.Time, until time.Time, late time.Duration, carry []string) *accessv1alpha1.SignInCursor {
	keepFrom := until.Add(-late)
	type entry struct {
		d string
		t time.Time
	}
	var all []entry
	for d, t := range read {
		if !t.Before(keepFrom) {
			all = append(all, entry{d, t})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].t.Equal(all[j].t) {
			return all[i].t.After(all[j].t)
		}
		return all[i].d < all[j].d
	})
	c := &accessv1alpha1.SignInCursor{Until: metav1.NewMicroTime(until)}
	for _, e := range all {
		c.Seen = append(c.Seen, e.d)
	}
	for _, d := range carry {
		if _, ok := read[d]; !ok {
			c.Seen = append(c.Seen, d)
		}
	}
	c.Seen = c.Seen[:min(len(c.Seen), maxSeen)]
	return c
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// seenSet is the cursor's digests as a set.
func seenSet(c *accessv1alpha1.SignInCursor) map[string]bool {
	out := map[string]bool{}
	if c != nil {
		for _, d := range c.Seen {
			out[d] = true
		}
	}
	return out
}

// digest is a short, fixed-size name for a record: of its id, or of its
// bytes when it has none. It carries nothing of the record.
func digest(id string, raw []byte) string {
	if id != "" {
		raw = []byte(id)
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func lateArrival(src *accessv1alpha1.SignInSource) time.Duration {
	return time.Duration(src.Spec.LateArrivalSeconds) * time.Second
}
