package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// scriptedLog is an Okta-shaped sign-in log whose records become visible
// when the test publishes them, whatever time they carry (late arrivals).
type scriptedLog struct {
	mu      sync.Mutex
	records []logRecord
	reads   []connectors.LogQuery
	fail    error
}

type logRecord struct {
	id  string
	at  time.Time
	ok  bool            // a successful sign-in, else a failed one
	raw json.RawMessage // when set, the record as the log has it
}

func (l *scriptedLog) publish(id string, at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, logRecord{id: id, at: at, ok: ok})
}

func (l *scriptedLog) ReadSignIns(_ context.Context, q connectors.LogQuery) ([]json.RawMessage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, q)
	if l.fail != nil {
		return nil, l.fail
	}
	var out []json.RawMessage
	for _, r := range l.records {
		if r.at.Before(q.From) || !r.at.Before(q.To) {
			continue
		}
		if len(out) == q.Max {
			return nil, connectors.ErrTooManyRecords
		}
		if r.raw != nil {
			out = append(out, r.raw)
			continue
		}
		result := "FAILURE"
		if r.ok {
			result = "SUCCESS"
		}
		out = append(out, json.RawMessage(fmt.Sprintf(
			`{"uuid":%q,"published":%q,"eventType":"user.session.start","actor":{"alternateId":"sam@example.com"},"client":{"ipAddress":"203.0.113.5"},"outcome":{"result":%q}}`,
			r.id, r.at.UTC().Format(time.RFC3339Nano), result)))
	}
	return out, nil
}

func (l *scriptedLog) Ensure(context.Context, connectors.Target, accessv1alpha1.GrantState) (connectors.Change, error) {
	return connectors.Change{}, nil
}
func (l *scriptedLog) ObservesState() bool { return true }
func (l *scriptedLog) Check(context.Context, *accessv1alpha1.ConnectedSystem, map[string][]byte) error {
	return nil
}

// countingIngester records each sign-in it is handed, by time.
type countingIngester struct {
	seen map[time.Time]int
	fail error
}

func (c *countingIngester) Ingest(_ context.Context, body []byte) (signals.Result, error) {
	if c.fail != nil {
		return signals.Result{}, c.fail
	}
	valid, rejected, err := signals.Decode(bytes.NewReader(body), time.Now(), signals.Limits{MaxEvents: 10000})
	if err != nil {
		return signals.Result{}, err
	}
	if len(rejected) > 0 {
		return signals.Result{}, fmt.Errorf("bad batch: %v", rejected)
	}
	for _, v := range valid {
		c.seen[v.Event.Time]++
	}
	return signals.Result{Received: len(valid), Accepted: len(valid)}, nil
}

type sourceEnv struct {
	t     testing.TB
	c     client.Client
	clock *clocktesting.FakeClock
	log   *scriptedLog
	ing   *countingIngester
	max   int
}

func newSourceEnv(t testing.TB, start time.Time) *sourceEnv {
	t.Helper()
	s := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	sys := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "okta"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta}}
	src := &accessv1alpha1.SignInSource{ObjectMeta: metav1.ObjectMeta{Name: "okta-log", Generation: 1},
		Spec: accessv1alpha1.SignInSourceSpec{System: "okta", PollIntervalSeconds: 60, LateArrivalSeconds: 600,
			InitialLookbackSeconds: 3600}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(sys, src).WithStatusSubresource(src).Build()
	return &sourceEnv{t: t, c: c, clock: clocktesting.NewFakeClock(start), log: &scriptedLog{},
		ing: &countingIngester{seen: map[time.Time]int{}}, max: 100}
}

// poll runs one Reconcile with a new reconciler, as after a restart or a
// leader change: nothing but the status carries over.
func (e *sourceEnv) poll() (ctrl.Result, *accessv1alpha1.SignInSource) {
	e.t.Helper()
	r := &SignInSourceReconciler{Client: e.c, Reader: e.c, Credentials: &Credentials{Reader: e.c, Namespace: "creds"},
		Connectors: connectors.Registry{accessv1alpha1.SystemTypeOkta: e.log}, Ingester: e.ing, Clock: e.clock,
		MaxRecords: e.max}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "okta-log"}})
	if err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
	src := &accessv1alpha1.SignInSource{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Name: "okta-log"}, src); err != nil {
		e.t.Fatal(err)
	}
	return res, src
}

// onceEach fails unless every want time was ingested exactly once and
// nothing else was.
func (e *sourceEnv) onceEach(want ...time.Time) {
	e.t.Helper()
	if len(e.ing.seen) != len(want) {
		e.t.Errorf("ingested %d distinct sign-ins, want %d: %v", len(e.ing.seen), len(want), e.ing.seen)
	}
	for _, w := range want {
		if n := e.ing.seen[w]; n != 1 {
			e.t.Errorf("sign-in at %s ingested %d times, want once", w.Format(time.RFC3339Nano), n)
		}
	}
}

func TestSourceReadsEachRecordOnceAcrossRestartsAndLateArrivals(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	old := start.Add(-2 * time.Hour) // before the initial lookback
	a, b := start.Add(-30*time.Minute), start.Add(-time.Second)
	e.log.publish("old", old, true)
	e.log.publish("a", a, true)
	e.log.publish("b", b, true)
	e.log.publish("failed", start.Add(-10*time.Second), false)

	res, src := e.poll()
	if got := e.log.reads[0]; !got.From.Equal(start.Add(-time.Hour)) || !got.To.Equal(start) {
		t.Fatalf("first window [%s, %s), want the hour before now", got.From, got.To)
	}
	if res.RequeueAfter != time.Minute {
		t.Errorf("next poll in %s, want the interval", res.RequeueAfter)
	}
	e.onceEach(a, b)
	want := accessv1alpha1.SignInSourceCounts{SignIns: 2, Accepted: 2, Skipped: 1}
	if src.Status.Counts != want {
		t.Errorf("counts %+v, want %+v", src.Status.Counts, want)
	}
	if src.Status.Cursor == nil || !src.Status.Cursor.Until.Equal(&metav1.MicroTime{Time: start}) || len(src.Status.Cursor.Seen) != 2 {
		t.Fatalf("cursor %+v, want until now with the two records of the last 10 minutes (b, failed)", src.Status.Cursor)
	}

	// Not due yet: no read.
	e.clock.Step(30 * time.Second)
	if res, _ := e.poll(); res.RequeueAfter != 30*time.Second || len(e.log.reads) != 1 {
		t.Fatalf("polled before the interval: %v, %d reads", res, len(e.log.reads))
	}

	// A record from before the cursor that the provider publishes late, and
	// a new one.
	e.clock.Step(30 * time.Second)
	late, fresh := start.Add(-5*time.Minute), start.Add(30*time.Second)
	e.log.publish("late", late, true)
	e.log.publish("fresh", fresh, true)
	_, src = e.poll()
	if got := e.log.reads[1]; !got.From.Equal(start.Add(-10 * time.Minute)) {
		t.Errorf("second window from %s, want lateArrivalSeconds before the cursor", got.From)
	}
	e.onceEach(a, b, late, fresh)
	if src.Status.Counts.SignIns != 4 || src.Status.Counts.Skipped != 1 {
		t.Errorf("counts %+v, want 4 sign-ins and the failed one skipped once", src.Status.Counts)
	}

	e.laterPollsReadNothingAgain(a, b, late, fresh)
}

// laterPollsReadNothingAgain polls for 15 minutes: nothing is read twice,
// and the seen list keeps only the late-arrival window.
func (e *sourceEnv) laterPollsReadNothingAgain(want ...time.Time) {
	e.t.Helper()
	var src *accessv1alpha1.SignInSource
	for range 15 {
		e.clock.Step(time.Minute)
		_, src = e.poll()
	}
	e.onceEach(want...)
	if len(src.Status.Cursor.Seen) != 0 {
		e.t.Errorf("seen %v, want empty: every record is older than the late-arrival window", src.Status.Cursor.Seen)
	}
	if src.Status.LagSeconds != 0 {
		e.t.Errorf("lag %d s, want 0", src.Status.LagSeconds)
	}
}

func TestSourceCatchesUpABusyLogInWindowsItCanHold(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	e.max = 50
	var all []time.Time
	for i := range 400 { // 400 sign-ins over the last 40 minutes
		at := start.Add(-40 * time.Minute).Add(time.Duration(i) * 6 * time.Second)
		all = append(all, at)
		e.log.publish(fmt.Sprintf("r%d", i), at, true)
	}
	var src *accessv1alpha1.SignInSource
	for i := 0; ; i++ {
		res, s := e.poll()
		src = s
		if res.RequeueAfter != catchUpPause {
			break
		}
		if i > 100 {
			t.Fatal("never caught up")
		}
		e.clock.Step(time.Second)
	}
	e.onceEach(all...)
	if src.Status.Counts.Accepted != 400 {
		t.Errorf("accepted %d, want 400", src.Status.Counts.Accepted)
	}
	for _, q := range e.log.reads {
		if q.Max != 50 {
			t.Fatalf("read with max %d, want 50", q.Max)
		}
	}
}

func TestSourceKeepsTheCursorWhenAPollFails(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	a := start.Add(-time.Minute)
	e.log.publish("a", a, true)

	e.log.fail = fmt.Errorf("GET /api/v1/logs: 503: %w", connectors.ErrUnreachable)
	res, src := e.poll()
	ready := findReady(src)
	if ready.Reason != accessv1alpha1.ReasonPollFailed || src.Status.Cursor != nil || res.RequeueAfter != time.Minute {
		t.Fatalf("after an outage: %+v, cursor %v, requeue %s", ready, src.Status.Cursor, res.RequeueAfter)
	}
	if src.Status.LastError == "" {
		t.Error("the error is not in the status")
	}

	e.log.fail = fmt.Errorf("401: %w", connectors.ErrCredentials)
	e.clock.Step(time.Minute)
	_, src = e.poll()
	if r := findReady(src); r.Reason != accessv1alpha1.ReasonCredentialsRefused || !stalledReasons[r.Reason] {
		t.Errorf("refused credentials read %+v, want Stalled CredentialsRefused", r)
	}

	// The store fails: the records are read again next time.
	e.log.fail = nil
	e.ing.fail = errors.New("the API server is unavailable")
	e.clock.Step(time.Minute)
	_, src = e.poll()
	if src.Status.Cursor != nil || findReady(src).Reason != accessv1alpha1.ReasonPollFailed {
		t.Fatalf("a failed store moved the cursor: %+v", src.Status)
	}
	e.ing.fail = nil
	e.clock.Step(time.Minute)
	_, src = e.poll()
	e.onceEach(a)
	if r := findReady(src); r.Status != metav1.ConditionTrue || src.Status.LastError != "" {
		t.Errorf("after recovery: %+v, lastError %q", r, src.Status.LastError)
	}
}

func TestSourceWriteLosesToANewerCursor(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	ctx := context.Background()
	stale := &accessv1alpha1.SignInSource{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: "okta-log"}, stale); err != nil {
		t.Fatal(err)
	}
	before := stale.DeepCopy()
	e.poll() // another manager moves the cursor meanwhile
	r := &SignInSourceReconciler{Client: e.c, Clock: e.clock}
	stale.Status.Cursor = &accessv1alpha1.SignInCursor{Until: metav1.NewMicroTime(start.Add(-time.Hour))}
	err := r.writeStatus(ctx, before, stale)
	if !apierrors.IsConflict(err) {
		t.Fatalf("a stale cursor was written over a newer one: %v", err)
	}
}

func findReady(src *accessv1alpha1.SignInSource) metav1.Condition {
	for _, c := range src.Status.Conditions {
		if c.Type == accessv1alpha1.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

func TestSourceReadsABusyLateWindowOnce(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	e.max = 50
	var all []time.Time
	publish := func(prefix string, from time.Time, n int, step time.Duration) {
		for i := range n {
			at := from.Add(time.Duration(i) * step)
			all = append(all, at)
			e.log.publish(fmt.Sprintf("%s%d", prefix, i), at, true)
		}
	}
	publish("early", start.Add(-10*time.Minute), 20, time.Second)
	publish("late", start.Add(-5*time.Minute), 5, time.Second)
	e.poll()
	// A burst after the cursor: the next poll cannot read the late part
	// again as well, and must still not take it for new afterwards.
	publish("burst", start.Add(time.Second), 45, 100*time.Millisecond)
	for range 4 {
		e.clock.Step(time.Minute)
		e.poll()
	}
	e.onceEach(all...)
}

func TestSourceWithTheLongestLateArrivalMovesOn(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	ctx := context.Background()
	src := &accessv1alpha1.SignInSource{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: "okta-log"}, src); err != nil {
		t.Fatal(err)
	}
	src.Spec.LateArrivalSeconds = 86400
	if err := e.c.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	_, src = e.poll()
	first := src.Status.Cursor.Until.Time
	e.clock.Step(time.Minute)
	e.log.publish("a", start.Add(30*time.Second), true)
	_, src = e.poll()
	if !src.Status.Cursor.Until.After(first) {
		t.Fatalf("the cursor stayed at %s", first)
	}
	if from := e.log.reads[1].From; !from.Equal(first.Add(-24 * time.Hour)) {
		t.Errorf("second window from %s, want a day before the cursor", from)
	}
	e.onceEach(start.Add(30 * time.Second))
}

func TestSourceSkipsARecordItCannotRead(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(t, start)
	a := start.Add(-time.Minute)
	e.log.mu.Lock()
	e.log.records = append(e.log.records, logRecord{id: "odd", at: start.Add(-2 * time.Minute),
		raw: json.RawMessage(`{"uuid":"odd","published":42,"eventType":["user.session.start"]}`)})
	e.log.mu.Unlock()
	e.log.publish("a", a, true)
	_, src := e.poll()
	if r := findReady(src); r.Status != metav1.ConditionTrue {
		t.Fatalf("an odd record stopped the source: %+v", r)
	}
	e.onceEach(a)
	if src.Status.Counts.Skipped != 1 {
		t.Errorf("skipped %d, want the odd record", src.Status.Counts.Skipped)
	}
	e.clock.Step(time.Minute)
	if _, src = e.poll(); src.Status.Counts.Skipped != 1 {
		t.Errorf("the odd record was counted again: skipped %d", src.Status.Counts.Skipped)
	}
}

// discardIngester takes every batch and stores nothing: the benchmark
// measures the source's own work (reading, digesting, sorting, encoding).
type discardIngester struct{}

func (discardIngester) Ingest(_ context.Context, body []byte) (signals.Result, error) {
	return signals.Result{Received: bytes.Count(body, []byte("\n")), Accepted: bytes.Count(body, []byte("\n"))}, nil
}

// BenchmarkSourcePoll polls a window of 5000 Okta records (a full poll)
// into an ingester that stores nothing, with a new cursor each time.
func BenchmarkSourcePoll(b *testing.B) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := newSourceEnv(b, start)
	e.max = DefaultSourceMaxRecords
	for i := range DefaultSourceMaxRecords {
		e.log.publish(fmt.Sprintf("r%d", i), start.Add(-50*time.Minute).Add(time.Duration(i)*500*time.Millisecond), i%5 != 0)
	}
	r := &SignInSourceReconciler{Clock: e.clock, Ingester: discardIngester{}, MaxRecords: e.max}
	src := &accessv1alpha1.SignInSource{Spec: accessv1alpha1.SignInSourceSpec{System: "okta", LateArrivalSeconds: 600,
		InitialLookbackSeconds: 3600}}
	target := logTarget{system: &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "okta"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta}}, log: e.log}
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.poll(context.Background(), src, target)
		if err != nil || res.result.Received != 4000 {
			b.Fatalf("%+v, %v", res.result, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/DefaultSourceMaxRecords, "ns/record")
}
