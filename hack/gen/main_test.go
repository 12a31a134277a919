package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestInputSchemaCopiesAreCurrent writes the input schema from the CRDs and
// compares it with both checked-in copies: they must be the same bytes.
func TestInputSchemaCopiesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if err := writeInputSchema(filepath.Join("..", "..", "config", "crd", "bases"), a, b); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if other, err := os.ReadFile(b); err != nil || !bytes.Equal(other, want) {
		t.Fatalf("the two written copies differ (%v)", err)
	}
	for _, path := range inputSchemaFiles {
		got, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what `make manifests` writes: run it", path)
		}
	}
}
