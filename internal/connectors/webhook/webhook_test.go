package webhook

import (
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	key, body := []byte("k"), []byte(`{"id":"1"}`)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ts := "1795867200"
	sig := Sign(key, ts, body)
	if !strings.HasPrefix(sig, "v1=") {
		t.Fatalf("signature %q lacks its version", sig)
	}
	if err := Verify(key, ts, sig, body, now, 5*time.Minute); err != nil {
		t.Fatalf("a good signature failed: %v", err)
	}
	tests := map[string]struct {
		key       []byte
		ts, sig   string
		body      []byte
		wantError string
	}{
		"wrong key":      {[]byte("other"), ts, sig, body, "signature mismatch"},
		"tampered body":  {key, ts, sig, []byte(`{"id":"2"}`), "signature mismatch"},
		"replayed later": {key, "1795860000", Sign(key, "1795860000", body), body, "away from now"},
		"bad timestamp":  {key, "yesterday", sig, body, "bad Portcullis-Timestamp"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := Verify(tt.key, tt.ts, tt.sig, tt.body, now, 5*time.Minute)
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("Verify() = %v, want %q", err, tt.wantError)
			}
		})
	}
}

func TestEventIDIsDeterministicPerTransition(t *testing.T) {
	a := EventID("uid", "Active@2026-11-28T12:00:00Z", "Quarantined")
	if a != EventID("uid", "Active@2026-11-28T12:00:00Z", "Quarantined") {
		t.Error("the same transition has two ids")
	}
	if a == EventID("uid", "Active@2026-11-28T12:05:00Z", "Quarantined") {
		t.Error("two transitions share an id")
	}
	if a == EventID("uid", "Active@2026-11-28T12:00:00Z", "Revoked") {
		t.Error("two target states share an id")
	}
}
