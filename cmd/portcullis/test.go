package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-dev/portcullis/internal/offline"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

type testOptions struct {
	data      dataFlags
	verbose   bool
	detection bool
}

func newTestCommand() *cobra.Command {
	opts := testOptions{}
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run a policy library's Rego unit tests and scenario suites",
		Long: `Run the Rego unit tests (*_test.rego) of DIR (default: policies) against its
policies and reference data (DIR/data/*.yaml), then every scenario suite in
DIR/scenarios/*.yaml. Results are reported per case, like go test; the exit
code is non-zero when anything fails or nothing was found to run.

Scenarios labelled honest or hostile are also a detection measurement:
--detection prints how many hostile ones the library actions (quarantines or
revokes) and how many honest ones it quarantines or revokes, names each miss,
and fails unless at least 95 % of the hostile ones are actioned, no honest one
is revoked and at most 5 % of the honest ones are quarantined.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "policies"
			if len(args) == 1 {
				dir = args[0]
			}
			return runTests(cmd.Context(), cmd.OutOrStdout(), dir, opts)
		},
	}
	opts.data.bind(cmd.Flags())
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "Print passing cases too.")
	cmd.Flags().BoolVar(&opts.detection, "detection", false,
		"Measure detection over the scenarios labelled honest or hostile, and fail when the targets are missed.")
	return cmd
}

// tally counts outcomes.
type tally struct{ passed, failed int }

func runTests(ctx context.Context, out io.Writer, dir string, opts testOptions) error {
	modules, data, err := libraryFrom(dir)
	if err != nil {
		return err
	}
	if data, err = opts.data.load(data); err != nil {
		return err
	}
	var t tally
	if err := runRegoTests(ctx, out, dir, data, opts.verbose, &t); err != nil {
		return err
	}
	runner := &offline.Runner{Modules: modules, Data: data}
	results, err := runScenarios(ctx, out, dir, runner, opts.verbose, &t)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", t.passed, t.failed)
	var missed error
	if opts.detection {
		d := offline.Measure(results)
		d.Print(out, offline.DefaultTargets)
		if !d.Meets(offline.DefaultTargets) {
			missed = offline.ErrTargetsMissed
		}
	}
	switch {
	case t.passed+t.failed == 0:
		return fmt.Errorf("no Rego tests or scenarios found in %s", dir)
	case t.failed > 0:
		return offline.ErrFailed
	}
	return missed
}

func runRegoTests(ctx context.Context, out io.Writer, dir string, data map[string]any, verbose bool, t *tally) error {
	files := map[string]string{}
	names, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil {
		return err
	}
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		files[name] = string(src)
	}
	if len(files) == 0 {
		return nil
	}
	cases, err := policy.RunRegoTests(ctx, files, data)
	if err != nil {
		return err
	}
	for _, c := range cases {
		switch {
		case c.Failed:
			t.failed++
			fmt.Fprintf(out, "--- FAIL: %s (%s)\n    %s:%d: %s\n", c.Name, seconds(c.Duration), c.File, c.Line, orDefault(c.Err, "the test rule was not true"))
		case c.Skipped:
			fmt.Fprintf(out, "--- SKIP: %s\n", c.Name)
		default:
			t.passed++
			if verbose {
				fmt.Fprintf(out, "--- PASS: %s (%s)\n", c.Name, seconds(c.Duration))
			}
		}
	}
	return nil
}

func runScenarios(ctx context.Context, out io.Writer, dir string, runner *offline.Runner, verbose bool, t *tally) ([]offline.ScenarioResult, error) {
	fsys := os.DirFS(dir)
	names, err := fs.Glob(fsys, "scenarios/*.yaml")
	if err != nil {
		return nil, err
	}
	var all []offline.ScenarioResult
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, name)
		suite, err := offline.ParseSuite(path, raw)
		if err != nil {
			return nil, err
		}
		results := runner.Run(ctx, path, suite)
		all = append(all, results...)
		for _, r := range results {
			if len(r.Failures) > 0 {
				t.failed++
				fmt.Fprintf(out, "--- FAIL: scenario %q (%s) (%s)\n", r.Name, r.Source, seconds(r.Duration))
				for _, f := range r.Failures {
					fmt.Fprintf(out, "    %s\n", f)
				}
				continue
			}
			t.passed++
			if verbose {
				fmt.Fprintf(out, "--- PASS: scenario %q (%s)\n", r.Name, seconds(r.Duration))
			}
		}
	}
	return all, nil
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
