package ssf

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestMemoryReplayStore(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(testNow)
	m := NewMemoryReplayStore(clk, 2)
	exp := testNow.Add(time.Hour)

	// Check remembers nothing.
	if err := m.Check(ctx, "iss-a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(ctx, "iss-a", "1", exp); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, "iss-a", "1"); !errors.Is(err, ErrReplay) {
		t.Fatalf("check after record: %v", err)
	}
	if err := m.Record(ctx, "iss-a", "1", exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// The same jti from another issuer is another SET.
	if err := m.Record(ctx, "iss-b", "1", testNow.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Full of unexpired entries: refuse rather than forget.
	if err := m.Check(ctx, "iss-a", "2"); !errors.Is(err, ErrReplayStoreFull) {
		t.Fatalf("check when full: %v", err)
	}
	if err := m.Record(ctx, "iss-a", "2", exp); !errors.Is(err, ErrReplayStoreFull) {
		t.Fatalf("full: %v", err)
	}
	if err := m.Record(ctx, "iss-a", "1", exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("refusal forgot an entry: %v", err)
	}
	// Once the oldest expires it makes room; the younger one stays.
	clk.Step(time.Hour)
	if err := m.Record(ctx, "iss-a", "2", testNow.Add(3*time.Hour)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := m.Record(ctx, "iss-b", "1", exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("unexpired entry forgotten: %v", err)
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d", m.Len())
	}
	if err := m.Record(ctx, "", "x", exp); err == nil {
		t.Fatal("empty issuer accepted")
	}
	if err := m.Check(ctx, "iss-a", ""); err == nil {
		t.Fatal("empty jti checked")
	}
	if NewMemoryReplayStore(clk, 0).maxEntries != DefaultMaxReplayEntries {
		t.Fatal("default bound")
	}
}
