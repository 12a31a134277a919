package ssfserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

func emitN(t *testing.T, s *Server, id string, n int) []string {
	t.Helper()
	var jtis []string
	for range n {
		jti := s.Emit(id, ssf.EventSessionRevoked, alice, map[string]any{"initiating_entity": "policy"})
		if jti == "" {
			t.Fatal("event not queued")
		}
		jtis = append(jtis, jti)
	}
	return jtis
}

func TestVerificationSET(t *testing.T) {
	s := newServer(t, Options{})
	id := pollStream(t, s).StreamID
	if code := call(t, s, http.MethodPost, PathVerify, map[string]any{"stream_id": id, "state": "s-123"}, nil); code != http.StatusNoContent {
		t.Fatalf("verify: %d", code)
	}
	if code := call(t, s, http.MethodPost, PathVerify, map[string]any{"stream_id": "nope"}, nil); code != http.StatusNotFound {
		t.Errorf("verify unknown stream: %d", code)
	}
	resp := poll(t, s, id, map[string]any{"returnImmediately": true})
	if len(resp.Sets) != 1 {
		t.Fatalf("sets %v", resp.Sets)
	}
	v := newVerifier(t, s, clocktesting.NewFakeClock(time.Now()))
	for jti, token := range resp.Sets {
		set, err := v.Verify(context.Background(), []byte(token))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(set.Events[ssf.EventVerification], &body); err != nil || body.State != "s-123" {
			t.Errorf("verification event %s: %v", set.Events[ssf.EventVerification], err)
		}
		if set.JTI != jti || set.Subject == nil || set.Subject.Format != ssf.FormatOpaque || set.Subject.ID != id {
			t.Errorf("SET %+v", set)
		}
	}
}

func TestPushReceiverDownThenUp(t *testing.T) {
	s := newServer(t, Options{RetryBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 20})
	r := newReceiver(t, s)
	r.downFor = 6
	id := r.pushStream(t, s).StreamID
	jtis := emitN(t, s, id, 5)
	eventually(t, "all SETs delivered", func() bool { return len(s.Delivered(id)) == len(jtis) })
	if got := r.received(); !slices.Equal(got, jtis) {
		t.Errorf("receiver got %v, want each of %v once, in order", got, jtis)
	}
	if got := s.Delivered(id); !slices.Equal(got, jtis) {
		t.Errorf("Delivered = %v, want %v", got, jtis)
	}
	if len(s.Pending(id)) != 0 || len(s.Failed(id)) != 0 || len(s.Rejected(id)) != 0 {
		t.Errorf("pending %v failed %v rejected %v", s.Pending(id), s.Failed(id), s.Rejected(id))
	}
	if s.Attempts(id, jtis[0]) != 7 || r.callCount() != 11 {
		t.Errorf("attempts %d calls %d, want 7 and 11", s.Attempts(id, jtis[0]), r.callCount())
	}
	if r.auths[0] != "Bearer rcv-secret" {
		t.Errorf("Authorization %q", r.auths[0])
	}
}

func TestPushGivesUp(t *testing.T) {
	s := newServer(t, Options{RetryBackoff: time.Millisecond, MaxAttempts: 3})
	r := newReceiver(t, s)
	r.downFor = 3
	id := r.pushStream(t, s).StreamID
	jtis := emitN(t, s, id, 2)
	eventually(t, "second SET delivered", func() bool { return len(s.Delivered(id)) == 1 })
	if !slices.Equal(s.Failed(id), jtis[:1]) || !slices.Equal(s.Delivered(id), jtis[1:]) {
		t.Errorf("failed %v delivered %v", s.Failed(id), s.Delivered(id))
	}
}

func TestPushRejectedNotRetried(t *testing.T) {
	s := newServer(t, Options{RetryBackoff: time.Millisecond})
	r := newReceiver(t, s)
	r.rejectIt = ssf.CodeInvalidKey
	id := r.pushStream(t, s).StreamID
	jtis := emitN(t, s, id, 2)
	eventually(t, "second SET delivered", func() bool { return len(s.Delivered(id)) == 1 })
	if got := s.Rejected(id); len(got) != 1 || got[jtis[0]] != ssf.CodeInvalidKey {
		t.Errorf("Rejected = %v", got)
	}
	if s.Attempts(id, jtis[0]) != 1 || r.callCount() != 2 || !slices.Equal(r.received(), jtis[1:]) {
		t.Errorf("attempts %d calls %d received %v", s.Attempts(id, jtis[0]), r.callCount(), r.received())
	}
}

func TestPausedStreamHoldsEvents(t *testing.T) {
	s := newServer(t, Options{})
	r := newReceiver(t, s)
	id := r.pushStream(t, s).StreamID
	setStatus(t, s, id, StatusPaused)
	jtis := emitN(t, s, id, 3)
	time.Sleep(50 * time.Millisecond) // would be enough to deliver, were it allowed
	if r.callCount() != 0 || !slices.Equal(s.Pending(id), jtis) {
		t.Fatalf("paused: %d pushes, pending %v", r.callCount(), s.Pending(id))
	}
	setStatus(t, s, id, StatusEnabled)
	eventually(t, "held SETs delivered", func() bool { return len(s.Delivered(id)) == 3 })
	if !slices.Equal(r.received(), jtis) {
		t.Errorf("received %v, want %v", r.received(), jtis)
	}

	setStatus(t, s, id, StatusPaused)
	emitN(t, s, id, 1)
	setStatus(t, s, id, StatusDisabled)
	if len(s.Pending(id)) != 0 || s.Emit(id, ssf.EventSessionRevoked, alice, nil) != "" {
		t.Errorf("a disabled stream holds %v", s.Pending(id))
	}
}

func TestPollAckAndRedelivery(t *testing.T) {
	s := newServer(t, Options{LongPollTimeout: 50 * time.Millisecond})
	id := pollStream(t, s, ssf.EventSessionRevoked).StreamID
	j := emitN(t, s, id, 3)

	resp := poll(t, s, id, map[string]any{"maxEvents": 2, "returnImmediately": true})
	if len(resp.Sets) != 2 || resp.Sets[j[0]] == "" || resp.Sets[j[1]] == "" || !resp.MoreAvailable {
		t.Fatalf("first poll: %v more=%v", keys(resp.Sets), resp.MoreAvailable)
	}
	// j[1] was returned but not acknowledged: it comes again.
	resp = poll(t, s, id, map[string]any{"ack": []string{j[0]}, "returnImmediately": true})
	if len(resp.Sets) != 2 || resp.Sets[j[1]] == "" || resp.Sets[j[2]] == "" || resp.MoreAvailable {
		t.Fatalf("second poll: %v more=%v", keys(resp.Sets), resp.MoreAvailable)
	}
	resp = poll(t, s, id, map[string]any{
		"ack":       []string{j[1]},
		"setErrs":   map[string]any{j[2]: map[string]string{"err": ssf.CodeInvalidAudience, "description": "x"}},
		"maxEvents": 0,
	})
	if len(resp.Sets) != 0 || resp.MoreAvailable {
		t.Errorf("ack-only poll: %v", resp)
	}
	if !slices.Equal(s.Delivered(id), j[:2]) || s.Rejected(id)[j[2]] != ssf.CodeInvalidAudience || len(s.Pending(id)) != 0 {
		t.Errorf("delivered %v rejected %v pending %v", s.Delivered(id), s.Rejected(id), s.Pending(id))
	}

}

func TestLongPoll(t *testing.T) {
	// Long enough that the event below always comes first.
	s := newServer(t, Options{LongPollTimeout: 2 * time.Second})
	id := pollStream(t, s, ssf.EventSessionRevoked).StreamID
	// A long poll with nothing queued ends empty after LongPollTimeout.
	if resp := poll(t, s, id, map[string]any{}); len(resp.Sets) != 0 {
		t.Errorf("empty long poll returned %v", resp.Sets)
	}
	// A long poll returns as soon as an event is queued.
	done := make(chan PollResponse)
	go func() {
		var resp PollResponse
		_ = call(t, s, http.MethodPost, PathPoll+id, map[string]any{}, &resp)
		done <- resp
	}()
	eventually(t, "long poll waiting", func() bool { return s.Requests(http.MethodPost, PathPoll+id) == 2 })
	jti := s.Emit(id, ssf.EventSessionRevoked, bob, nil)
	if resp := <-done; len(resp.Sets) != 1 || resp.Sets[jti] == "" {
		t.Errorf("long poll returned %v, want %s", keys(resp.Sets), jti)
	}
}

func TestPollErrors(t *testing.T) {
	s := newServer(t, Options{})
	r := newReceiver(t, s)
	pushID := r.pushStream(t, s).StreamID
	if code := call(t, s, http.MethodPost, PathPoll+pushID, map[string]any{}, nil); code != http.StatusBadRequest {
		t.Errorf("poll of a push stream: %d", code)
	}
	if code := call(t, s, http.MethodPost, PathPoll+"nope", map[string]any{}, nil); code != http.StatusNotFound {
		t.Errorf("poll of an unknown stream: %d", code)
	}
}

func TestKeyRotation(t *testing.T) {
	s := newServer(t, Options{})
	id := pollStream(t, s, ssf.EventSessionRevoked).StreamID
	clk := clocktesting.NewFakeClock(time.Now())
	v := newVerifier(t, s, clk)
	verifyNext := func() error {
		t.Helper()
		jti := emitN(t, s, id, 1)[0]
		resp := poll(t, s, id, map[string]any{"returnImmediately": true})
		_, err := v.Verify(context.Background(), []byte(resp.Sets[jti]))
		poll(t, s, id, map[string]any{"ack": []string{jti}, "maxEvents": 0})
		return err
	}
	if err := verifyNext(); err != nil {
		t.Fatal(err)
	}
	oldKid := s.KeyIDs()[0]
	newKid, err := s.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Within the refresh interval the verifier has not seen the new key.
	var setErr *ssf.Error
	if err := verifyNext(); !errors.As(err, &setErr) || setErr.Code != ssf.CodeInvalidKey {
		t.Fatalf("before refresh: %v, want invalid_key", err)
	}
	clk.Step(ssf.DefaultRefreshInterval)
	if err := verifyNext(); err != nil {
		t.Fatalf("after refresh: %v", err)
	}
	if !s.RetireKey(oldKid) || s.RetireKey(newKid) || !slices.Equal(s.KeyIDs(), []string{newKid}) {
		t.Errorf("keys after retiring %s: %v", oldKid, s.KeyIDs())
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
