package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/portcullis-dev/portcullis/internal/version"
)

// addVersion gives root a version subcommand and a --version flag; both
// print the same line.
func addVersion(root *cobra.Command) {
	root.Version = version.Get().String()
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
			return printVersion(cmd.OutOrStdout(), version.Get(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", output, "Output format: text or json.")
	return cmd
}

func printVersion(out io.Writer, v version.Info, output string) error {
	switch output {
	case "text", "":
		_, err := fmt.Fprintln(out, v.String())
		return err
	case "json":
		return writeJSON(out, v)
	default:
		return fmt.Errorf("-o %q: use text or json", output)
	}
}
