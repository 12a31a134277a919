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
	// output is text (the default, like go test), json or junit.
	output string
}

func newTestCommand() *cobra.Command {
	opts := testOptions{output: "text"}
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run a policy library's Rego unit tests and scenario suites",
		Long: `Run the Rego unit tests (*_test.rego) of DIR (default: policies) against its
policies and reference data (DIR/portcullis/*.yaml, and DIR/data/*.yaml and
DIR/data/portcullis/*.yaml of earlier layouts), then every scenario suite in
DIR/scenarios/*/*.yaml and DIR/scenarios/*.yaml. Results are reported per case, like go test; the exit
code is non-zero when anything fails or nothing was found to run.

Scenarios labelled honest or hostile are also a detection measurement:
--detection prints how many hostile ones the library actions (quarantines or
revokes) and how many honest ones it quarantines or revokes, names each miss,
and fails unless at least 95 % of the hostile ones are actioned, no honest one
is revoked and at most 5 % of the honest ones are quarantined.

-o json prints the results as one JSON object, and -o junit as JUnit XML
that CI systems read (one testsuite per Rego test file and per scenario
file, and with --detection one named detection whose case fails when the
targets are missed); the exit code is the same as with the text output.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "policies"
			if len(args) == 1 {
				dir = args[0]
			}
			switch opts.output {
			case "text", "json", "junit":
			default:
				return fmt.Errorf("-o %q: use text, json or junit", opts.output)
			}
			return runTests(cmd.Context(), cmd.OutOrStdout(), dir, opts)
		},
	}
	opts.data.bind(cmd.Flags())
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "Print passing cases too.")
	cmd.Flags().BoolVar(&opts.detection, "detection", false,
		"Measure detection over the scenarios labelled honest or hostile, and fail when the targets are missed.")
	cmd.Flags().StringVarP(&opts.output, "output", "o", opts.output, "Output format: text, json or junit.")
	return cmd
}

func runTests(ctx context.Context, out io.Writer, dir string, opts testOptions) error {
	modules, data, err := libraryFrom(dir)
	if err != nil {
		return err
	}
	if data, err = opts.data.load(data); err != nil {
		return err
	}
	cases, err := runRegoTests(ctx, dir, data)
	if err != nil {
		return err
	}
	runner := &offline.Runner{Modules: modules, Data: data}
	scenarioCases, results, err := runScenarios(ctx, dir, runner)
	if err != nil {
		return err
	}
	report := &testReport{Dir: dir, Cases: append(cases, scenarioCases...)}
	report.count()
	var missed error
	if opts.detection {
		d := offline.Measure(results)
		report.Detection = newDetectionReport(d)
		if !report.Detection.MeetsTargets {
			missed = offline.ErrTargetsMissed
		}
	}
	if err := report.write(out, opts.output, opts.verbose); err != nil {
		return err
	}
	switch {
	case report.Passed+report.Failed == 0:
		return fmt.Errorf("no Rego tests or scenarios found in %s", dir)
	case report.Failed > 0:
		return offline.ErrFailed
	}
	return missed
}

func runRegoTests(ctx context.Context, dir string, data map[string]any) ([]caseResult, error) {
	files := map[string]string{}
	names, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		files[name] = string(src)
	}
	if len(files) == 0 {
		return nil, nil
	}
	tests, err := policy.RunRegoTests(ctx, files, data)
	if err != nil {
		return nil, err
	}
	cases := make([]caseResult, 0, len(tests))
	for _, c := range tests {
		r := caseResult{Kind: kindRego, Suite: c.File, Name: c.Name, File: c.File, Line: c.Line, Status: statusPass, Duration: c.Duration}
		switch {
		case c.Failed:
			r.Status = statusFail
			r.Failures = []string{fmt.Sprintf("%s:%d: %s", c.File, c.Line, orDefault(c.Err, "the test rule was not true"))}
		case c.Skipped:
			r.Status = statusSkip
		}
		cases = append(cases, r)
	}
	return cases, nil
}

func runScenarios(ctx context.Context, dir string, runner *offline.Runner) ([]caseResult, []offline.ScenarioResult, error) {
	fsys := os.DirFS(dir)
	// One suite a directory is the layout that `opa test DIR` also loads;
	// suites directly in scenarios/ are the earlier one.
	names, err := fs.Glob(fsys, "scenarios/*/*.yaml")
	if err != nil {
		return nil, nil, err
	}
	flat, err := fs.Glob(fsys, "scenarios/*.yaml")
	if err != nil {
		return nil, nil, err
	}
	names = append(names, flat...)
	var cases []caseResult
	var all []offline.ScenarioResult
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, name)
		suite, err := offline.ParseSuite(path, raw)
		if err != nil {
			return nil, nil, err
		}
		results := runner.Run(ctx, path, suite)
		all = append(all, results...)
		for _, r := range results {
			c := caseResult{Kind: kindScenario, Suite: path, Name: r.Name, File: path, Source: r.Source, Status: statusPass, Duration: r.Duration}
			if len(r.Failures) > 0 {
				c.Status = statusFail
				c.Failures = r.Failures
			}
			cases = append(cases, c)
		}
	}
	return cases, all, nil
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
