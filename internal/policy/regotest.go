package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestCase is the result of one Rego unit test (a `test_` rule).
type TestCase struct {
	// Name is the test's package and rule, e.g. data.p_test.test_x.
	Name string
	// File and Line locate the test.
	File string
	Line int
	// Failed, Skipped and Err describe the outcome; a test that neither
	// failed nor was skipped passed.
	Failed  bool
	Skipped bool
	Err     string
	// Duration is how long the test ran.
	Duration time.Duration
}

// RunRegoTests compiles the modules (file name → source, policies and their
// *_test.rego together) in the same sandbox as policies, with data under
// data.portcullis, and runs every test_ rule. As with
// `opa test --schema docs/schemas`, a module whose METADATA annotation names
// schema.input is type-checked against the input schema; the others are not.
func RunRegoTests(ctx context.Context, files map[string]string, data map[string]any) ([]TestCase, error) {
	modules := make(map[string]*ast.Module, len(files))
	var problems []string
	for name, src := range files {
		m, err := ast.ParseModuleWithOpts(name, src, annotationParserOptions)
		if err != nil {
			var cerr *CompileError
			if errors.As(compileError(name, err), &cerr) {
				problems = append(problems, cerr.Problems...)
			}
			continue
		}
		problems = append(problems, sandboxViolations(name, m)...)
		problems = append(problems, schemaAnnotationProblems(name, m)...)
		modules[name] = m
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &CompileError{Policy: "tests", Problems: problems}
	}
	portcullis, err := normalise(data)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().
		WithCapabilities(sandboxCapabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithSchemas(annotatedInputSchema()).
		WithUseTypeCheckAnnotations(true)
	store := inmem.NewFromObject(map[string]any{"portcullis": portcullis})
	ch, err := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetDefaultRegoVersion(ast.RegoV1).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(false).
		SetModules(modules).
		RunTests(ctx, nil)
	if err != nil {
		return nil, compileError("tests", err)
	}
	var cases []TestCase
	for r := range ch {
		cases = append(cases, testCase(r))
	}
	sort.Slice(cases, func(i, j int) bool {
		if cases[i].File != cases[j].File {
			return cases[i].File < cases[j].File
		}
		return cases[i].Line < cases[j].Line
	})
	return cases, nil
}

func testCase(r *tester.Result) TestCase {
	c := TestCase{
		Name:     r.Package + "." + r.Name,
		Failed:   r.Fail || r.Error != nil,
		Skipped:  r.Skip,
		Duration: r.Duration,
	}
	if r.Location != nil {
		c.File, c.Line = r.Location.File, r.Location.Row
	}
	if r.Error != nil {
		c.Err = r.Error.Error()
	} else if r.Fail && r.FailedAt != nil {
		c.Err = fmt.Sprintf("failed at %s:%d: %s", r.FailedAt.Location.File, r.FailedAt.Location.Row, r.FailedAt)
	}
	return c
}
