package ssftx

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// TestVerificationRequestsCannotFillTheOutbox: a receiver asking for
// verification in a loop without taking the events must not fill its
// stream's outbox, which would make every Announce fail for the stream.
func TestVerificationRequestsCannotFillTheOutbox(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Limits.MaxOutbox = 5 })
	cfg := f.createStream(aliceToken, "")
	for i := range 20 {
		f.must(http.StatusNoContent, http.MethodPost, PathVerify, aliceToken,
			ssf.VerificationRequest{StreamID: cfg.StreamID, State: fmt.Sprintf("s-%d", i)}, nil)
	}
	if st := f.status(cfg.StreamID); st.Pending != 1 || st.OutboxFull {
		t.Fatalf("after 20 verification requests: %+v", st)
	}
	announce(t, f.tx.Load(), disable("t1", "a@example.com"))
	if st := f.status(cfg.StreamID); st.Pending != 3 {
		t.Fatalf("after a disable: %+v", st)
	}
}
