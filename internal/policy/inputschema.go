package policy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputSchemaJSON is the JSON Schema of the policy input document, which
// `make manifests` (hack/gen) writes here from the CRDs, beside the copies it
// publishes as docs/policy-input.schema.json and docs/schemas/input.json.
//
//go:embed input.schema.json
var inputSchemaJSON []byte

// inputSchemaName is how a module's METADATA annotation names the input
// schema:
//
//	# METADATA
//	# scope: package
//	# schemas:
//	#   - input: schema.input
//
// It is the name `opa check --schema DIR` and `opa test --schema DIR` give
// DIR/input.json, so with DIR docs/schemas the OPA CLI checks an annotated
// module against the same schema as Portcullis.
const inputSchemaName = "schema.input"

// inputSchemaRef is inputSchemaName parsed.
var inputSchemaRef = func() ast.Ref {
	ref, err := ast.ParseSchemaRef(inputSchemaName)
	if err != nil {
		panic(err)
	}
	return ref
}()

// parsedInputSchema is the input schema, parsed once; a schema that is not
// JSON panics at the first compile, as a broken build should.
var parsedInputSchema = sync.OnceValue(func() any {
	var schema any
	if err := json.Unmarshal(inputSchemaJSON, &schema); err != nil {
		panic(fmt.Sprintf("the embedded policy input schema is not JSON: %v", err))
	}
	return schema
})

// inputSchema is the schema set policies compile with: the input schema as
// the type of input, so the compiler type-checks every reference to input
// against it and a misspelt field is a compile error instead of a rule that
// silently never matches. It is built once; the compilers only read the
// set, so they share it.
var inputSchema = sync.OnceValue(func() *ast.SchemaSet {
	set := ast.NewSchemaSet()
	set.Put(ast.SchemaRootRef, parsedInputSchema())
	return set
})

// annotatedInputSchema is the schema set Rego unit tests compile with, as
// `opa test --schema docs/schemas` does: schema.input only, so that a module
// annotated with it is type-checked against the input schema, and a module
// without annotations (a test, whose input is whatever `with input as`
// gives it) is not, as before.
var annotatedInputSchema = sync.OnceValue(func() *ast.SchemaSet {
	set := ast.NewSchemaSet()
	set.Put(inputSchemaRef, parsedInputSchema())
	return set
})

// schemaAnnotationProblems lists, as policy:line:col: message, every schema
// annotation of module other than `input: schema.input`, the one schema
// Portcullis has: another schema name, a schema for another path, or an
// inline schema, which would type input more loosely than the input schema.
// (OPA would report each rule an unknown name covers as "undefined schema";
// this points at the annotation.)
func schemaAnnotationProblems(name string, module *ast.Module) []string {
	var problems []string
	for _, a := range module.Annotations {
		for _, s := range a.Schemas {
			if s.Schema != nil && s.Schema.Equal(inputSchemaRef) && s.Path.Equal(ast.InputRootRef) {
				continue
			}
			row, col := 0, 0
			if a.Location != nil {
				row, col = a.Location.Row, a.Location.Col
			}
			what := "an inline schema"
			if s.Schema != nil {
				what = "the schema " + s.Schema.String()
			}
			problems = append(problems, fmt.Sprintf("%s:%d:%d: the METADATA annotation gives %v %s: Portcullis has one schema, for the whole input: write `- input: %s`",
				name, row, col, s.Path, what, inputSchemaName))
		}
	}
	return problems
}
