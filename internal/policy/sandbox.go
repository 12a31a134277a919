package policy

import (
	"fmt"
	"slices"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
)

// forbiddenBuiltins are the builtins a policy may not call: they reach the
// network, read the runtime or the clock, or are random. Decisions must be
// a pure function of the input and the reference data, so that the
// controller and `portcullis eval` decide alike and a decision can be
// replayed. net.cidr_* and the other pure net functions stay allowed.
var forbiddenBuiltins = map[string]string{
	"http.send":              "it reaches the network",
	"net.lookup_ip_addr":     "it reaches the network (DNS)",
	"opa.runtime":            "it reads the runtime environment",
	"time.now_ns":            "it reads the clock; use input.now instead",
	"rand.intn":              "it is random",
	"uuid.rfc4122":           "it is random",
	"io.jwt.encode_sign":     "it signs tokens",
	"io.jwt.encode_sign_raw": "it signs tokens",
}

// sandboxCapabilities returns OPA's capabilities for this version less the
// forbidden builtins, so the compiler rejects any call to them.
func sandboxCapabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool {
		_, forbidden := forbiddenBuiltins[b.Name]
		return forbidden
	})
	caps.AllowNet = []string{}
	return caps
}

// sandboxViolations lists, as policy:line:col: message, every call in module
// to a forbidden builtin. It runs before compiling, so the author reads why
// the builtin is refused rather than "undefined function".
func sandboxViolations(name string, module *ast.Module) []string {
	var problems []string
	ast.WalkTerms(module, func(term *ast.Term) bool {
		ref, ok := term.Value.(ast.Ref)
		if !ok {
			return false
		}
		if why, forbidden := forbiddenBuiltins[ref.String()]; forbidden {
			problems = append(problems, fmt.Sprintf("%s:%d:%d: %s is not allowed in Portcullis policies: %s",
				name, term.Location.Row, term.Location.Col, ref, why))
		}
		return false
	})
	sort.Strings(problems)
	return problems
}
