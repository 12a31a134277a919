package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

var updateCapabilities = flag.Bool("update-capabilities", false,
	"write policies/capabilities.json from the sandbox instead of comparing")

// The committed capabilities file must be what the sandbox allows, so that
// opa check and opa test with it refuse what Portcullis refuses. Regenerate
// it with `make capabilities`.
func TestCapabilitiesFileMatchesSandbox(t *testing.T) {
	want, err := SandboxCapabilitiesJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", CapabilitiesFile)
	if *updateCapabilities {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run make capabilities", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the sandbox's capabilities: run make capabilities and commit it", CapabilitiesFile)
	}
}

// The file is one OPA reads back, and it lacks every forbidden builtin
// while keeping the pure ones policies use.
func TestCapabilitiesFileRefusesForbiddenBuiltins(t *testing.T) {
	raw, err := SandboxCapabilitiesJSON()
	if err != nil {
		t.Fatal(err)
	}
	caps, err := ast.LoadCapabilitiesJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("OPA cannot read the capabilities: %v", err)
	}
	names := make([]string, 0, len(caps.Builtins))
	for _, b := range caps.Builtins {
		names = append(names, b.Name)
	}
	for name := range forbiddenBuiltins {
		if slices.Contains(names, name) {
			t.Errorf("capabilities allow %s", name)
		}
	}
	for _, name := range []string{"net.cidr_contains", "time.parse_rfc3339_ns", "count"} {
		if !slices.Contains(names, name) {
			t.Errorf("capabilities lack %s", name)
		}
	}
	if caps.AllowNet == nil || len(caps.AllowNet) != 0 {
		t.Errorf("allow_net = %v, want an empty list (no host)", caps.AllowNet)
	}
}
