package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/version"
)

func TestVersionCommand(t *testing.T) {
	line := version.Get().String()
	for _, args := range [][]string{{"version"}, {"--version"}, {"version", "-o", "text"}} {
		out, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if out != line+"\n" {
			t.Errorf("%v: got %q, want %q", args, out, line)
		}
	}

	out, err := run(t, "version", "-o", "json")
	if err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	var got version.Info
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if got != version.Get() {
		t.Errorf("version -o json: got %+v, want %+v", got, version.Get())
	}

	if out, err := run(t, "version", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "use text or json") {
		t.Errorf("version -o yaml: want an error, got %v\n%s", err, out)
	}
}
