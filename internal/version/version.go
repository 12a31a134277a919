// Package version tells which build of Portcullis is running: the version,
// git revision and commit time stamped by the linker (make build, make
// image) or read from the Go build info.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped by the linker (go build -ldflags "-X github.com/portcullis-dev/portcullis/internal/version.version=v1.2.3 ..."), by
// make build and make image. They win over the build info because a build
// outside a git checkout, or with -buildvcs=false, has no vcs.* settings, and
// because `go build` reports the main module's version as "(devel)".
var (
	version    string // e.g. v0.3.0, or v0.0.0-dev
	revision   string // the full commit hash
	commitTime string // the commit time, RFC 3339
	modified   string // "true" when built from a tree with uncommitted changes
)

// Info is what `portcullis version` and the portcullis_build_info metric
// report, and its JSON form.
type Info struct {
	Version    string `json:"version"`
	Revision   string `json:"revision,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

// String is the one-line form, e.g.
// "portcullis v0.3.0 (revision 0123abcd…, 2026-11-28T12:00:00Z, modified) go1.26.8 linux/amd64".
func (v Info) String() string {
	var details []string
	if v.Revision != "" {
		details = append(details, "revision "+v.Revision)
	}
	if v.CommitTime != "" {
		details = append(details, v.CommitTime)
	}
	if v.Modified {
		details = append(details, "modified")
	}
	line := "portcullis " + v.Version
	if len(details) > 0 {
		line += " (" + strings.Join(details, ", ") + ")"
	}
	return line + " " + v.GoVersion + " " + v.Platform
}

// Get reads the running binary's build info and the stamped
// variables.
func Get() Info {
	info, _ := debug.ReadBuildInfo()
	return Resolve(info, version, revision, commitTime, modified)
}

// Resolve merges the build info (nil when the binary has none) with
// the linker-stamped values; a stamped value wins over the build info.
func Resolve(info *debug.BuildInfo, stampedVersion, stampedRevision, stampedTime, stampedModified string) Info {
	v := Info{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info != nil {
		v.GoVersion = info.GoVersion
		// "(devel)" is what go build records for the main module of a
		// checkout; it says nothing, so it is treated as no version.
		if mv := info.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if stampedVersion != "" {
		v.Version = stampedVersion
	}
	if stampedRevision != "" {
		v.Revision = stampedRevision
	}
	if stampedTime != "" {
		v.CommitTime = stampedTime
	}
	if stampedModified != "" {
		v.Modified = stampedModified == "true"
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}
