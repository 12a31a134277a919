package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestInputSchemaIsThePublishedOne checks that the schema the engine embeds
// is the one docs/ publishes, and the one the OPA CLI reads as schema.input
// (opa check --schema docs/schemas): `make manifests` writes all three.
func TestInputSchemaIsThePublishedOne(t *testing.T) {
	for _, path := range []string{"policy-input.schema.json", filepath.Join("schemas", "input.json")} {
		published, err := os.ReadFile(filepath.Join("..", "..", "docs", path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(published, inputSchemaJSON) {
			t.Errorf("internal/policy/input.schema.json and docs/%s differ: run `make manifests`", filepath.ToSlash(path))
		}
	}
	if first, second := inputSchema(), inputSchema(); first != second {
		t.Error("the input schema is parsed on every use, not once")
	}
}
