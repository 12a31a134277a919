package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionResolve(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/portcullis-dev/portcullis", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-28T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH

	// From the build info alone: "(devel)" is no version.
	got := resolveVersion(info, "", "", "", "")
	want := versionInfo{Version: "devel", Revision: "0123456789abcdef0123456789abcdef01234567",
		CommitTime: "2026-11-28T12:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: platform}
	if got != want {
		t.Errorf("build info only: got %+v, want %+v", got, want)
	}

	// A stamped value wins over the build info.
	got = resolveVersion(info, "v0.3.0", "fedcba", "2026-12-01T00:00:00Z", "false")
	want = versionInfo{Version: "v0.3.0", Revision: "fedcba", CommitTime: "2026-12-01T00:00:00Z",
		GoVersion: "go1.26.8", Platform: platform}
	if got != want {
		t.Errorf("stamped: got %+v, want %+v", got, want)
	}
	if line := got.String(); line != "portcullis v0.3.0 (revision fedcba, 2026-12-01T00:00:00Z) go1.26.8 "+platform {
		t.Errorf("line: %q", line)
	}

	// A module version (go install ...@v1.2.3) is used when nothing is stamped.
	info.Main.Version = "v1.2.3"
	if got := resolveVersion(info, "", "", "", ""); got.Version != "v1.2.3" {
		t.Errorf("module version: got %q", got.Version)
	}

	// No build info at all still gives a usable line.
	if got := resolveVersion(nil, "", "", "", ""); got.String() != "portcullis devel "+runtime.Version()+" "+platform {
		t.Errorf("no build info: %q", got.String())
	}
}

func TestVersionCommand(t *testing.T) {
	line := currentVersion().String()
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
	var got versionInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if got != currentVersion() {
		t.Errorf("version -o json: got %+v, want %+v", got, currentVersion())
	}

	if out, err := run(t, "version", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "use text or json") {
		t.Errorf("version -o yaml: want an error, got %v\n%s", err, out)
	}
}
