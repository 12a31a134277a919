package decisionlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestLogWritesOneJSONLinePerDecision(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, false)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for range 2 {
		if err := l.Log("ns/g", at, map[string]any{"secretish": "input"}, map[string]string{"action": "Allow"}, "rev1"); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %q", len(lines), buf.String())
	}
	var e Entry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.DecisionID == "" || e.Revision != "rev1" || !strings.HasPrefix(e.InputDigest, "sha256:") || e.Input != nil {
		t.Errorf("entry = %+v", e)
	}
	if strings.Contains(lines[0], "secretish") {
		t.Error("a digest-only log holds the input")
	}
}

func TestNilLoggerIsOff(t *testing.T) {
	l, err := Open("", false)
	if err != nil || l != nil {
		t.Fatalf("Open(\"\") = %v, %v", l, err)
	}
	if err := l.Log("x", time.Now(), nil, nil, ""); err != nil {
		t.Fatal(err)
	}
}
