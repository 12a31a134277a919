package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestInputSchemaIsThePublishedOne checks that the schema the engine embeds
// is the one docs/ publishes: `make manifests` writes both.
func TestInputSchemaIsThePublishedOne(t *testing.T) {
	published, err := os.ReadFile(filepath.Join("..", "..", "docs", "policy-input.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(published, inputSchemaJSON) {
		t.Error("internal/policy/input.schema.json and docs/policy-input.schema.json differ: run `make manifests`")
	}
	if first, second := inputSchema(), inputSchema(); first != second {
		t.Error("the input schema is parsed on every use, not once")
	}
}
