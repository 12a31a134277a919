// Package policy is Portcullis's boundary with the OPA engine: it is the only
// package that imports github.com/open-policy-agent/opa. It compiles
// AccessPolicies into sandboxed prepared queries and decides grants with
// them; nothing of OPA's types leaves it.
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// The rule sets through which a policy contributes reasons, and the one
// through which it contributes to a contractor's risk (shown, never acted
// on by itself).
const (
	RuleRevoke     = "revoke"
	RuleQuarantine = "quarantine"
	RuleRisk       = "risk"
)

// ErrNoRules is returned for a module that defines neither rule set.
var ErrNoRules = errors.New("the module defines none of revoke, quarantine and risk: a policy contributes reasons through `revoke contains r if {...}` or `quarantine contains r if {...}`, and risk through `risk contains r if {...}`")

// CompileError is a policy that does not compile. Its message lists every
// problem as policy:line:col: message.
type CompileError struct {
	Policy   string
	Problems []string
}

func (e *CompileError) Error() string {
	return strings.Join(e.Problems, "; ")
}

// Revision returns the revision of a policy source: the first 12 hex digits
// of its SHA-256.
func Revision(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])[:12]
}

// compiled is one policy, compiled into a prepared query.
type compiled struct {
	policy   Policy
	revision string
	pkg      string
	// rules are the rule sets the module defines, in order: revoke, quarantine.
	rules []string
	query rego.PreparedEvalQuery
	// broken, when set, is why the policy has no good version: every
	// evaluation fails with it (OPAEngine.Fail).
	broken error
}

// The engine parses modules as Rego v1 and reads no METADATA annotation:
// every policy is type-checked against the input schema whatever its
// comments say, so an annotation can neither loosen that check (an inline
// schema) nor break a policy that compiled before. `portcullis test` reads
// them, as `opa test --schema` does (annotationParserOptions).
var parserOptions = ast.ParserOptions{RegoVersion: ast.RegoV1}

// annotationParserOptions parse a module with its METADATA annotations.
var annotationParserOptions = ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}

// parseModule parses source as one Rego v1 module and checks the sandbox and
// the rule sets.
func parseModule(name, source string) (*ast.Module, []string, error) {
	module, err := ast.ParseModuleWithOpts(name, source, parserOptions)
	if err != nil {
		return nil, nil, compileError(name, err)
	}
	if problems := sandboxViolations(name, module); len(problems) > 0 {
		return nil, nil, &CompileError{Policy: name, Problems: problems}
	}
	rules, problems := reasonRules(name, module)
	if len(problems) > 0 {
		return nil, nil, &CompileError{Policy: name, Problems: problems}
	}
	if len(rules) == 0 {
		return nil, nil, &CompileError{Policy: name, Problems: []string{name + ": " + ErrNoRules.Error()}}
	}
	return module, rules, nil
}

// compile parses, checks and compiles one policy and prepares its query
// against store. Errors are *CompileError.
func compile(ctx context.Context, p Policy, store storage.Store) (*compiled, error) {
	where := p.Name
	if p.File != "" {
		where = p.File
	}
	module, rules, err := parseModule(where, p.Source)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().
		WithCapabilities(sandboxCapabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithSchemas(inputSchema())
	compiler.Compile(map[string]*ast.Module{where: module})
	if compiler.Failed() {
		return nil, compileError(where, compiler.Errors)
	}
	pkg := module.Package.Path.String()
	query, err := rego.New(
		rego.Query(queryFor(pkg, rules)),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.Capabilities(sandboxCapabilities()),
		rego.StrictBuiltinErrors(true),
		rego.SetRegoVersion(ast.RegoV1),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, compileError(where, err)
	}
	return &compiled{policy: p, revision: Revision(p.Source), pkg: pkg, rules: rules, query: query}, nil
}

// queryFor binds each defined rule set to a variable of its own name.
func queryFor(pkg string, rules []string) string {
	parts := make([]string, 0, len(rules))
	for _, r := range rules {
		parts = append(parts, fmt.Sprintf("%s := %s.%s", r, pkg, r))
	}
	return strings.Join(parts, "; ")
}

// reasonRules returns the rule sets that module defines, and a problem for
// each one that is not a multi-value rule (`revoke contains r if ...`).
func reasonRules(name string, module *ast.Module) ([]string, []string) {
	defined := map[string]bool{}
	var problems []string
	for _, rule := range module.Rules {
		ref := rule.Head.Ref()
		if len(ref) == 0 {
			continue
		}
		head := ref[0].Value.String()
		if head != RuleRevoke && head != RuleQuarantine && head != RuleRisk {
			continue
		}
		if len(ref) != 1 || rule.Head.RuleKind() != ast.MultiValue {
			problems = append(problems, fmt.Sprintf("%s:%d:%d: %s must be a set: write `%s contains reason if { ... }`",
				name, rule.Location.Row, rule.Location.Col, head, head))
			continue
		}
		defined[head] = true
	}
	var rules []string
	for _, r := range []string{RuleRevoke, RuleQuarantine} {
		if defined[r] {
			rules = append(rules, r)
		}
	}
	if defined[RuleRisk] {
		rules = append(rules, RuleRisk)
	}
	return rules, problems
}

// compileError turns OPA's errors into policy:line:col: message lines.
func compileError(name string, err error) error {
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) {
		return &CompileError{Policy: name, Problems: []string{fmt.Sprintf("%s: %v", name, err)}}
	}
	problems := make([]string, 0, len(astErrs))
	for _, e := range astErrs {
		problems = append(problems, formatError(name, e))
	}
	return &CompileError{Policy: name, Problems: problems}
}

func formatError(name string, e *ast.Error) string {
	if e.Location == nil {
		return fmt.Sprintf("%s: %s", name, e.Message)
	}
	file := e.Location.File
	if file == "" {
		file = name
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, e.Location.Row, e.Location.Col, e.Message)
}
