package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// SignalSink acts on the SETs a SignalStream accepted (signalsink.Sink).
type SignalSink interface {
	Receive(ctx context.Context, src signalsink.Source, set *ssf.SET) (signalsink.Outcome, error)
}

// streamTokens are a stream's secrets: the management bearer token and,
// for push, the token the transmitter sends us.
type streamTokens struct {
	management, push string
}

// hash identifies the tokens without holding them.
func (t streamTokens) hash() string {
	sum := sha256.Sum256([]byte(t.management + "\x00" + t.push))
	return hex.EncodeToString(sum[:8])
}

// streamRun is what this process holds for one SignalStream: the
// transmitter's metadata and client, the receiver (Verifier and Poller or
// PushHandler), and what the receiver saw since, which the reconciler
// writes to status. It is rebuilt when the stream's generation or tokens
// change (key), and kept until the stream is deleted.
type streamRun struct {
	key    string
	name   string
	tokens streamTokens
	client *ssf.StreamClient

	// Owned by the reconciler (one reconcile per stream at a time).
	recvKey    string
	streamID   string
	poller     *ssf.Poller
	push       http.Handler
	syncedAt   time.Time
	configured bool

	sink      SignalSink
	source    signalsink.Source
	clock     clock.PassiveClock
	metrics   *metrics.SignalStreams
	wake      func(name string)
	suspended atomic.Bool

	mu         sync.Mutex
	base       accessv1alpha1.SignalStreamCounts
	delta      accessv1alpha1.SignalStreamCounts
	lastIAT    time.Time
	lastLag    time.Duration
	wantState  string
	verifiedAt time.Time
}

// runSnapshot is what a run saw, for the status.
type runSnapshot struct {
	counts     accessv1alpha1.SignalStreamCounts
	lastIAT    time.Time
	lag        time.Duration
	verifiedAt time.Time
}

// Receive implements ssf.Sink: a verification event answers the last
// verification request and goes no further; every other SET goes to the
// SignalSink, unless the stream is suspended.
func (r *streamRun) Receive(ctx context.Context, set *ssf.SET) error {
	if body, ok := set.Events[ssf.EventVerification]; ok {
		r.verification(body)
		return nil
	}
	if r.suspended.Load() {
		return fmt.Errorf("SignalStream %s is suspended", r.name)
	}
	out, err := r.sink.Receive(ctx, r.source, set)
	if err != nil {
		return err
	}
	now := r.clock.Now()
	r.mu.Lock()
	r.delta.Accepted++
	r.delta.Unmatched += int64(out.Unmatched)
	r.delta.Ambiguous += int64(out.Ambiguous)
	if set.IssuedAt.After(r.lastIAT) {
		r.lastIAT, r.lastLag = set.IssuedAt, max(now.Sub(set.IssuedAt), 0)
	}
	r.mu.Unlock()
	if m := r.metrics; m != nil {
		m.Sets.WithLabelValues(r.name, "accepted").Inc()
		m.Sets.WithLabelValues(r.name, "unmatched").Add(float64(out.Unmatched))
		m.Sets.WithLabelValues(r.name, "ambiguous").Add(float64(out.Ambiguous))
		m.LastEvent.WithLabelValues(r.name).Set(float64(set.IssuedAt.Unix()))
		m.Lag.WithLabelValues(r.name).Set(max(now.Sub(set.IssuedAt), 0).Seconds())
	}
	r.wake(r.name)
	return nil
}

// verification records the arrival of the verification event that
// carries the state last requested; another state (an older request's) is
// ignored.
func (r *streamRun) verification(raw json.RawMessage) {
	var body struct {
		State string `json:"state"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return
	}
	r.mu.Lock()
	ok := body.State != "" && body.State == r.wantState
	if ok {
		r.verifiedAt = r.clock.Now()
	}
	r.mu.Unlock()
	if ok {
		r.wake(r.name)
	}
}

// expect makes state the one a verification event must carry.
func (r *streamRun) expect(state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wantState != state {
		r.wantState, r.verifiedAt = state, time.Time{}
	}
}

// counted adds SETs received and refused by the receiver.
func (r *streamRun) counted(received, refused int) {
	if received == 0 && refused == 0 {
		return
	}
	r.mu.Lock()
	r.delta.Received += int64(received)
	r.delta.Refused += int64(refused)
	r.mu.Unlock()
	if r.metrics != nil && refused > 0 {
		r.metrics.Sets.WithLabelValues(r.name, "refused").Add(float64(refused))
	}
	r.wake(r.name)
}

func (r *streamRun) snapshot() runSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.base
	c.Received += r.delta.Received
	c.Accepted += r.delta.Accepted
	c.Refused += r.delta.Refused
	c.Unmatched += r.delta.Unmatched
	c.Ambiguous += r.delta.Ambiguous
	return runSnapshot{counts: c, lastIAT: r.lastIAT, lag: r.lastLag, verifiedAt: r.verifiedAt}
}

// inherit carries what old saw into r, so a rebuild loses no count.
func (r *streamRun) inherit(old *streamRun) {
	s := old.snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.base, r.lastIAT, r.lastLag, r.streamID = s.counts, s.lastIAT, s.lag, old.streamID
	old.mu.Lock()
	r.wantState, r.verifiedAt = old.wantState, old.verifiedAt
	old.mu.Unlock()
}

// observe writes what the run saw into the status.
func (r *streamRun) observe(st *accessv1alpha1.SignalStreamStatus) {
	s := r.snapshot()
	st.Counts = s.counts
	if !s.lastIAT.IsZero() {
		t := metav1.NewTime(s.lastIAT)
		st.LastEventTime, st.LagSeconds = &t, int64(s.lag/time.Second)
	}
	if !s.verifiedAt.IsZero() && st.Verification.State != "" {
		r.mu.Lock()
		same := r.wantState == st.Verification.State
		r.mu.Unlock()
		if same && st.Verification.VerifiedAt == nil {
			t := metav1.NewTime(s.verifiedAt)
			st.Verification.VerifiedAt = &t
		}
	}
}

// pushHandler builds the PushHandler of a push stream, counting its answers.
func (r *streamRun) pushHandler(v *ssf.Verifier) (*countingHandler, error) {
	h, err := ssf.NewPushHandler(ssf.PushConfig{Verifier: v, Sink: r, Token: r.tokens.push})
	if err != nil {
		return nil, err
	}
	return &countingHandler{next: h, run: r}, nil
}
