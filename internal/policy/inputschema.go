package policy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputSchemaJSON is the JSON Schema of the policy input document, which
// `make manifests` (hack/gen) writes here from the CRDs, beside the copy it
// publishes as docs/policy-input.schema.json.
//
//go:embed input.schema.json
var inputSchemaJSON []byte

// inputSchema is the JSON Schema of the input document: the compiler
// type-checks every reference to input against it, so a misspelt field is a
// compile error instead of a rule that silently never matches. It is parsed
// once; a schema that is not JSON panics at the first compile, as a broken
// build should. The compilers only read the set, so they share it.
var inputSchema = sync.OnceValue(func() *ast.SchemaSet {
	var schema any
	if err := json.Unmarshal(inputSchemaJSON, &schema); err != nil {
		panic(fmt.Sprintf("the embedded policy input schema is not JSON: %v", err))
	}
	set := ast.NewSchemaSet()
	set.Put(ast.SchemaRootRef, schema)
	return set
})
