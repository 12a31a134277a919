package ssftx

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func disable(id, email string) Transition {
	return Transition{ID: id, Email: email, Disabled: true, Reason: "policy verdict", Time: t0}
}

func enable(id string) Transition {
	return Transition{ID: id, Email: "a@example.com", Time: t0}
}

func announce(t *testing.T, tx *Transmitter, trs ...Transition) {
	t.Helper()
	for _, tr := range trs {
		if err := tx.Announce(context.Background(), tr); err != nil {
			t.Fatalf("announce %s: %v", tr.ID, err)
		}
	}
}

// settled waits until the stream has nothing pending.
func (f *fixture) settled(id string) {
	f.t.Helper()
	eventually(f.t, "an empty outbox", func() bool { return f.status(id).Pending == 0 })
}

func TestAnnounceDeliversOnce(t *testing.T) {
	f := newFixture(t)
	r := f.newPushReceiver("alice")
	cfg := f.createStream(aliceToken, r.srv.URL)
	other := f.newPushReceiver("bob")
	filtered := f.createStream(bobToken, other.srv.URL)
	f.must(http.StatusOK, http.MethodPost, PathAdd, bobToken,
		ssf.SubjectRequest{StreamID: filtered.StreamID, Subject: &ssf.SubjectID{Format: ssf.FormatEmail, Email: "someone@example.com"}}, nil)
	tx := f.tx.Load()
	announce(t, tx, disable("t1", "Ann@Example.com"), disable("t1", "Ann@Example.com"))
	f.startDeliverer()
	f.settled(cfg.StreamID)
	announce(t, tx, disable("t1", "Ann@Example.com")) // after delivery too
	time.Sleep(300 * time.Millisecond)
	sets := r.received()
	if got := eventTypes(sets); !slices.Equal(got, []string{ssf.EventSessionRevoked, ssf.EventAccountDisabled}) {
		t.Fatalf("received %v", got)
	}
	for _, s := range sets {
		if s.Subject.Format != ssf.FormatEmail || s.Subject.Email != "Ann@Example.com" || s.JTI != eventJTI("t1", cfg.StreamID, eventTypes([]*ssf.SET{s})[0]) {
			t.Errorf("SET %+v", s)
		}
	}
	if !strings.Contains(string(sets[1].Events[ssf.EventAccountDisabled]), `"reason_admin":{"en":"policy verdict"}`) {
		t.Errorf("account-disabled body %s", sets[1].Events[ssf.EventAccountDisabled])
	}
	if n := len(other.received()); n != 0 {
		t.Errorf("a stream whose subjects exclude the contractor got %d SETs", n)
	}
	m := f.cfg.Metrics
	if q, d, p := testutil.ToFloat64(m.queued.WithLabelValues("alice")), testutil.ToFloat64(m.deliveries.WithLabelValues("alice", ResultDelivered)),
		testutil.ToFloat64(m.pending.WithLabelValues(cfg.StreamID)); q != 2 || d != 2 || p != 0 {
		t.Errorf("metrics: queued %v, delivered %v, pending %v", q, d, p)
	}
	assertNoSecrets(t, "logs", f.logs.String())
}

func TestReceiverOutageThenRecovery(t *testing.T) {
	f := newFixture(t)
	r := f.newPushReceiver("alice")
	r.unavailable.Store(5)
	cfg := f.createStream(aliceToken, r.srv.URL)
	f.startDeliverer()
	tx := f.tx.Load()
	announce(t, tx, disable("t1", "a@example.com"), enable("t2"), disable("t3", "b@example.com"))
	f.settled(cfg.StreamID)
	var got []string
	for _, s := range r.received() {
		got = append(got, s.JTI)
	}
	want := []string{eventJTI("t1", cfg.StreamID, ssf.EventSessionRevoked), eventJTI("t1", cfg.StreamID, ssf.EventAccountDisabled),
		eventJTI("t2", cfg.StreamID, ssf.EventAccountEnabled), eventJTI("t3", cfg.StreamID, ssf.EventSessionRevoked),
		eventJTI("t3", cfg.StreamID, ssf.EventAccountDisabled)}
	if !slices.Equal(got, want) {
		t.Errorf("received %v, want %v in order, once each", got, want)
	}
	if r.requests.Load() < 6 {
		t.Errorf("only %d requests: the outage was not exercised", r.requests.Load())
	}
	st := f.status(cfg.StreamID)
	if st.LastFailure != "" {
		t.Errorf("last failure %q after recovery", st.LastFailure)
	}
	if n := testutil.ToFloat64(f.cfg.Metrics.deliveries.WithLabelValues("alice", ResultFailed)); n < 5 {
		t.Errorf("%v failed deliveries counted", n)
	}
	assertNoSecrets(t, "logs", f.logs.String())
	for _, path := range []string{PathStatus + "?stream_id=" + cfg.StreamID, PathStream + "?stream_id=" + cfg.StreamID, PathStream} {
		_, body := f.do(http.MethodGet, path, aliceToken, nil)
		assertNoSecrets(t, path, string(body))
	}
}

func TestRestartDeliversWhatWasPending(t *testing.T) {
	f := newFixture(t)
	r := f.newPushReceiver("alice")
	cfg := f.createStream(aliceToken, r.srv.URL)
	announce(t, f.tx.Load(), disable("t1", "a@example.com"))
	f.restart() // the old Transmitter never delivered
	f.startDeliverer()
	f.settled(cfg.StreamID)
	if got := eventTypes(r.received()); len(got) != 2 {
		t.Errorf("received %v after the restart", got)
	}
}

func TestRefusedSETIsNotRetried(t *testing.T) {
	f := newFixture(t)
	r := f.newPushReceiver("not-alice") // its Verifier refuses aud alice
	cfg := f.createStream(aliceToken, r.srv.URL)
	f.startDeliverer()
	announce(t, f.tx.Load(), disable("t1", "a@example.com"))
	f.settled(cfg.StreamID)
	time.Sleep(400 * time.Millisecond)                       // two rescans
	announce(t, f.tx.Load(), disable("t1", "a@example.com")) // a retry does not queue refused SETs again
	time.Sleep(400 * time.Millisecond)
	st := f.status(cfg.StreamID)
	if st.Refused != 2 || st.LastErrorCode != ssf.CodeInvalidAudience || r.requests.Load() != 2 || len(r.received()) != 0 {
		t.Errorf("status %+v after %d requests", st, r.requests.Load())
	}
}

func TestPausedStreamHoldsEvents(t *testing.T) {
	f := newFixture(t)
	r := f.newPushReceiver("alice")
	cfg := f.createStream(aliceToken, r.srv.URL)
	f.setStatus(cfg.StreamID, ssf.StreamPaused)
	f.startDeliverer()
	announce(t, f.tx.Load(), disable("t1", "a@example.com"))
	time.Sleep(400 * time.Millisecond)
	if st := f.status(cfg.StreamID); st.Pending != 2 || len(r.received()) != 0 {
		t.Fatalf("paused: pending %d, received %d", st.Pending, len(r.received()))
	}
	f.setStatus(cfg.StreamID, ssf.StreamEnabled)
	f.settled(cfg.StreamID)
	if n := len(r.received()); n != 2 {
		t.Errorf("received %d after enabling", n)
	}
	// A disabled stream gets nothing.
	f.setStatus(cfg.StreamID, ssf.StreamDisabled)
	announce(t, f.tx.Load(), enable("t4"))
	if st := f.status(cfg.StreamID); st.Pending != 0 {
		t.Errorf("a disabled stream holds %d events", st.Pending)
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	r := f.newPushReceiver("alice")
	cfg := f.createStream(aliceToken, r.srv.URL)
	f.startDeliverer()
	announce(t, f.tx.Load(), disable("t1", "a@example.com"))
	f.settled(cfg.StreamID)
	// Add k2 and switch to it; k1 stays published.
	var keys corev1.Secret
	if err := f.k8s.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "ssf-keys"}, &keys); err != nil {
		t.Fatal(err)
	}
	keys.Data["k2.pem"], keys.Data["active"] = ecKeyPEM(t), []byte("k2")
	if err := f.k8s.Update(context.Background(), &keys); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the transmitter's refresh and the receiver's JWKS interval
	announce(t, f.tx.Load(), enable("t2"))
	f.settled(cfg.StreamID)
	st := f.status(cfg.StreamID)
	if n := len(r.received()); n != 3 || st.Refused != 0 {
		t.Errorf("received %d, status %+v", n, st)
	}
	code, body := f.do(http.MethodGet, PathJWKS, "", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"k1"`) || !strings.Contains(string(body), `"k2"`) {
		t.Errorf("JWKS after rotation: %s", body)
	}
	// Remove k1: SETs are signed with k2, so delivery goes on.
	delete(keys.Data, "k1.pem")
	if err := f.k8s.Update(context.Background(), &keys); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	announce(t, f.tx.Load(), disable("t3", "a@example.com"))
	f.settled(cfg.StreamID)
	if n, st := len(r.received()), f.status(cfg.StreamID); n != 5 || st.Refused != 0 {
		t.Errorf("after removing k1: received %d, status %+v", n, st)
	}
	if _, body := f.do(http.MethodGet, PathJWKS, "", nil); strings.Contains(string(body), `"k1"`) {
		t.Errorf("k1 still published: %s", body)
	}
}

func TestOutboxFull(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Limits.MaxOutbox = 3 })
	r := f.newPushReceiver("alice")
	cfg := f.createStream(aliceToken, r.srv.URL)
	f.setStatus(cfg.StreamID, ssf.StreamPaused)
	tx := f.tx.Load()
	announce(t, tx, disable("t1", "a@example.com"))
	err := tx.Announce(context.Background(), disable("t2", "a@example.com"))
	if !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("announce into a full outbox: %v", err)
	}
	assertNoSecrets(t, "Announce error", err.Error())
	if st := f.status(cfg.StreamID); !st.OutboxFull || st.Pending != 2 {
		t.Errorf("status %+v", st)
	}
	f.setStatus(cfg.StreamID, ssf.StreamEnabled)
	f.startDeliverer()
	f.settled(cfg.StreamID)
	announce(t, tx, disable("t2", "a@example.com")) // the caller's retry
	f.settled(cfg.StreamID)
	if n := len(r.received()); n != 4 {
		t.Errorf("received %d SETs, want 4", n)
	}
	if st := f.status(cfg.StreamID); st.OutboxFull {
		t.Errorf("still full: %+v", st)
	}
}

func TestPollDelivery(t *testing.T) {
	f := newFixture(t)
	cfg := f.createStream(aliceToken, "")
	r := f.newReceiver("alice")
	poller, err := ssf.NewPoller(ssf.PollConfig{URL: cfg.Delivery.EndpointURL, Client: f.srv.Client(), Token: aliceToken,
		Verifier: r.verifier, Sink: r, MaxEvents: 2})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		announce(t, f.tx.Load(), disable("t1", "a@example.com"), enable("t2"))
	}()
	res, err := poller.Poll(context.Background()) // a long poll, woken by Announce
	if err != nil || res.Received == 0 {
		t.Fatalf("poll: %+v %v", res, err)
	}
	for i := 0; i < 3 && len(r.received()) < 3; i++ {
		if _, err := poller.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := poller.Poll(context.Background()); err != nil { // carries the last acks
		t.Fatal(err)
	}
	if n, st := len(r.received()), f.status(cfg.StreamID); n != 3 || st.Pending != 0 {
		t.Errorf("received %d, pending %d", n, st.Pending)
	}
}

func TestKeySecretErrors(t *testing.T) {
	pemA, pemB := ecKeyPEM(t), ecKeyPEM(t)
	for name, c := range map[string]struct {
		data map[string][]byte
		want string
	}{
		"none":             {map[string][]byte{"active": []byte("a")}, "no signing key"},
		"two, none active": {map[string][]byte{"a.pem": pemA, "b.pem": pemB}, `set "active"`},
		"active missing":   {map[string][]byte{"a.pem": pemA, "active": []byte("c")}, `no data key "c.pem"`},
		"not PEM":          {map[string][]byte{"a.pem": []byte("hello")}, "PEM block"},
		"public key":       {map[string][]byte{"a.pem": []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}, "not a private key"},
		"one, implicit":    {map[string][]byte{"a.pem": pemA}, ""},
		"RSA 1024":         {map[string][]byte{"a.pem": rsaKeyPEM(t, 1024)}, "at least 2048"},
		"RSA and Ed25519":  {map[string][]byte{"a.pem": rsaKeyPEM(t, 2048), "b.pem": ed25519KeyPEM(t), "active": []byte("b\n")}, ""},
	} {
		_, err := parseKeySet(c.data)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", name, err, c.want)
		case err != nil && strings.Contains(err.Error(), string(pemA[40:60])):
			t.Errorf("%s: the error quotes key material", name)
		}
	}
}

func TestPollAcksAndErrors(t *testing.T) {
	f := newFixture(t)
	cfg := f.createStream(aliceToken, "")
	announce(t, f.tx.Load(), disable("t1", "a@example.com"))
	path := PathPollBase + cfg.StreamID
	var first, again pollResponse
	f.must(http.StatusOK, http.MethodPost, path, aliceToken, map[string]any{"returnImmediately": true, "maxEvents": 1}, &first)
	f.must(http.StatusOK, http.MethodPost, path, aliceToken, map[string]any{"returnImmediately": true}, &again)
	revoked, disabled := eventJTI("t1", cfg.StreamID, ssf.EventSessionRevoked), eventJTI("t1", cfg.StreamID, ssf.EventAccountDisabled)
	if len(first.Sets) != 1 || first.Sets[revoked] == "" || !first.MoreAvailable || len(again.Sets) != 2 {
		t.Fatalf("first %d sets (more %v), again %d", len(first.Sets), first.MoreAvailable, len(again.Sets))
	}
	var last pollResponse
	f.must(http.StatusOK, http.MethodPost, path, aliceToken, map[string]any{"returnImmediately": true, "ack": []string{revoked},
		"setErrs": map[string]ssf.Error{disabled: {Code: ssf.CodeInvalidKey, Description: "x"}}}, &last)
	if st := f.status(cfg.StreamID); len(last.Sets) != 0 || st.Pending != 0 || st.Refused != 1 || st.LastErrorCode != ssf.CodeInvalidKey {
		t.Errorf("after ack and setErrs: %d sets, status %+v", len(last.Sets), st)
	}
	push := f.createStream(aliceToken, "https://receiver.example.test/")
	if code, _ := f.do(http.MethodPost, PathPollBase+push.StreamID, aliceToken, map[string]any{}); code != http.StatusBadRequest {
		t.Errorf("polling a push stream: %d", code)
	}
}

func TestOutboxBytesBound(t *testing.T) {
	tx := &Transmitter{cfg: Config{Limits: Limits{MaxOutbox: 100, MaxOutboxBytes: 1000}}}
	e := func(jti string) entry { return entry{JTI: jti, Type: ssf.EventSessionRevoked, Body: make([]byte, 300)} }
	st := &stream{Status: streamState{Status: ssf.StreamEnabled}}
	if _, err := tx.appendEntries(st, []entry{e("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.appendEntries(st, []entry{e("b"), e("c")}); !errors.Is(err, ErrOutboxFull) || len(st.Outbox) != 1 || !st.Status.OutboxFull {
		t.Errorf("%v, %d entries, full %v", err, len(st.Outbox), st.Status.OutboxFull)
	}
}
