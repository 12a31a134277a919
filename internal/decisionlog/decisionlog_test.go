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
	if e.DecisionID == "" || e.Bundles[Bundle].Revision != "rev1" || !strings.HasPrefix(e.InputDigest, "sha256:") || e.Input != nil {
		t.Errorf("entry = %+v", e)
	}
	checkOPAFields(t, e, lines)
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

// checkOPAFields checks OPA's current fields: the revision under bundles,
// never the deprecated top-level revision; labels with the instance id,
// the same on every entry of one logger, and the version.
func checkOPAFields(t *testing.T, e Entry, lines []string) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["revision"]; ok {
		t.Error("the entry has OPA's deprecated top-level revision")
	}
	if e.Labels["id"] == "" || e.Labels["version"] == "" || e.Labels["grant"] != "ns/g" {
		t.Errorf("labels = %v, want id, version and the grant", e.Labels)
	}
	var other Entry
	if err := json.Unmarshal([]byte(lines[1]), &other); err != nil || other.Labels["id"] != e.Labels["id"] {
		t.Errorf("one logger's entries carry different ids: %v, %v", e.Labels["id"], other.Labels["id"])
	}
}
