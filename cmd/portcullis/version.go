package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Stamped by the linker (go build -ldflags "-X main.version=v1.2.3 ..."), by
// make build and make image. They win over the build info because a build
// outside a git checkout, or with -buildvcs=false, has no vcs.* settings, and
// because `go build` reports the main module's version as "(devel)".
var (
	version    string // e.g. v0.3.0, or v0.0.0-dev
	revision   string // the full commit hash
	commitTime string // the commit time, RFC 3339
	modified   string // "true" when built from a tree with uncommitted changes
)

// versionInfo is what `portcullis version` reports, and its JSON form.
type versionInfo struct {
	Version    string `json:"version"`
	Revision   string `json:"revision,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

// String is the one-line form, e.g.
// "portcullis v0.3.0 (revision 0123abcd…, 2026-11-28T12:00:00Z, modified) go1.26.8 linux/amd64".
func (v versionInfo) String() string {
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

// currentVersion reads the running binary's build info and the stamped
// variables.
func currentVersion() versionInfo {
	info, _ := debug.ReadBuildInfo()
	return resolveVersion(info, version, revision, commitTime, modified)
}

// resolveVersion merges the build info (nil when the binary has none) with
// the linker-stamped values; a stamped value wins over the build info.
func resolveVersion(info *debug.BuildInfo, stampedVersion, stampedRevision, stampedTime, stampedModified string) versionInfo {
	v := versionInfo{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
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

// addVersion gives root a version subcommand and a --version flag; both
// print the same line.
func addVersion(root *cobra.Command) {
	root.Version = currentVersion().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newVersionCommand())
}

func newVersionCommand() *cobra.Command {
	output := "text"
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, git revision, commit time and Go version of this binary",
		Long: `Print the version, git revision, commit time, whether the tree had
uncommitted changes, and the Go version and platform this binary was built
with, on one line (-o text) or as a JSON object (-o json).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), currentVersion(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", output, "Output format: text or json.")
	return cmd
}

func printVersion(out io.Writer, v versionInfo, output string) error {
	switch output {
	case "text", "":
		_, err := fmt.Fprintln(out, v.String())
		return err
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	default:
		return fmt.Errorf("-o %q: use text or json", output)
	}
}
