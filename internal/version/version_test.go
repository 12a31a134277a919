package version

import (
	"runtime"
	"runtime/debug"
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
	got := Resolve(info, "", "", "", "")
	want := Info{Version: "devel", Revision: "0123456789abcdef0123456789abcdef01234567",
		CommitTime: "2026-11-28T12:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: platform}
	if got != want {
		t.Errorf("build info only: got %+v, want %+v", got, want)
	}

	// A stamped value wins over the build info.
	got = Resolve(info, "v0.3.0", "fedcba", "2026-12-01T00:00:00Z", "false")
	want = Info{Version: "v0.3.0", Revision: "fedcba", CommitTime: "2026-12-01T00:00:00Z",
		GoVersion: "go1.26.8", Platform: platform}
	if got != want {
		t.Errorf("stamped: got %+v, want %+v", got, want)
	}
	if line := got.String(); line != "portcullis v0.3.0 (revision fedcba, 2026-12-01T00:00:00Z) go1.26.8 "+platform {
		t.Errorf("line: %q", line)
	}

	// A module version (go install ...@v1.2.3) is used when nothing is stamped.
	info.Main.Version = "v1.2.3"
	if got := Resolve(info, "", "", "", ""); got.Version != "v1.2.3" {
		t.Errorf("module version: got %q", got.Version)
	}

	// No build info at all still gives a usable line.
	if got := Resolve(nil, "", "", "", ""); got.String() != "portcullis devel "+runtime.Version()+" "+platform {
		t.Errorf("no build info: %q", got.String())
	}
}
