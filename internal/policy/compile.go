// Package policy is Portcullis's boundary with the OPA engine: it is the only
// package that imports github.com/open-policy-agent/opa. Nothing of OPA's
// types leaves it.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The rule sets through which a policy contributes reasons.
const (
	RuleRevoke     = "revoke"
	RuleQuarantine = "quarantine"
)

// ErrNoRules is returned for a module that defines neither rule set.
var ErrNoRules = errors.New("the module defines neither revoke nor quarantine: a policy contributes reasons through `revoke contains r if {...}` or `quarantine contains r if {...}`")

// CompileError is a policy that does not compile. Its message lists every
// problem as policy:line:col: message.
type CompileError struct {
	Policy   string
	Problems []string
}

func (e *CompileError) Error() string {
	return strings.Join(e.Problems, "; ")
}

// Compiled is a policy module that parsed and compiled.
type Compiled struct {
	// Name is the AccessPolicy's name.
	Name string
	// Revision is the first 12 hex digits of the source's SHA-256.
	Revision string
	// Package is the module's package path, e.g. data.portcullis.verification.
	Package string
}

// Revision returns the revision of a policy source.
func Revision(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])[:12]
}

// Compile parses source as one Rego v1 module named after the policy and
// compiles it alone. Errors are *CompileError.
func Compile(name, source string) (*Compiled, error) {
	module, err := ast.ParseModuleWithOpts(name, source, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, compileError(name, err)
	}
	if !definesReasons(module) {
		return nil, &CompileError{Policy: name, Problems: []string{name + ": " + ErrNoRules.Error()}}
	}
	compiler := ast.NewCompiler()
	compiler.Compile(map[string]*ast.Module{name: module})
	if compiler.Failed() {
		return nil, compileError(name, compiler.Errors)
	}
	return &Compiled{
		Name:     name,
		Revision: Revision(source),
		Package:  module.Package.Path.String(),
	}, nil
}

func definesReasons(module *ast.Module) bool {
	for _, rule := range module.Rules {
		ref := rule.Head.Ref()
		if len(ref) == 0 {
			continue
		}
		if name := ref[0].Value.String(); name == RuleRevoke || name == RuleQuarantine {
			return true
		}
	}
	return false
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
	return fmt.Sprintf("%s:%d:%d: %s", name, e.Location.Row, e.Location.Col, e.Message)
}
