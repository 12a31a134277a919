package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/offline"
)

// run executes the CLI in-process and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

const samplesDir = "../../config/samples"

func TestEvalSamples(t *testing.T) {
	out, err := run(t, "eval", "-f", samplesDir, "--now", "2026-11-28T12:00:00Z")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	for _, want := range []string{"contractors/alex-payments-edit", "Allow", "exempt anonymizers/quarantine CommercialVPN", "(exception alex-conference-vpn)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// strictData lowers the library's quarantine threshold to the weight of
// one commercial VPN, which is all the sample contractor Alex shows.
func strictData(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strict.yaml")
	if err := os.WriteFile(path, []byte("risk:\n  quarantine_at: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalFailOn(t *testing.T) {
	out, err := run(t, "eval", "-f", samplesDir, "--builtin-policies", "--data", strictData(t), "--now", "2026-11-28T12:00:00Z", "--fail-on", "quarantine")
	if !errors.Is(err, errFailOn) {
		t.Fatalf("eval --fail-on quarantine = %v, want errFailOn\n%s", err, out)
	}
	if !strings.Contains(err.Error(), "contractors/alex-payments-edit (Quarantine)") {
		t.Errorf("error does not name the grant: %v", err)
	}
	if _, err := run(t, "eval", "-f", samplesDir, "--builtin-policies", "--data", strictData(t), "--now", "2026-11-28T12:00:00Z", "--fail-on", "revoke"); err != nil {
		t.Errorf("eval --fail-on revoke failed on a quarantine: %v", err)
	}
}

func TestEvalJSON(t *testing.T) {
	out, err := run(t, "eval", "-f", samplesDir, "--builtin-policies", "--data", strictData(t), "--now", "2026-11-28T12:00:00Z", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var decisions []offline.GrantDecision
	if err := json.Unmarshal([]byte(out), &decisions); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	found := false
	for _, d := range decisions {
		if d.Grant == "contractors/alex-payments-edit" {
			found = d.Decision.Action == "Quarantine" && d.Decision.Revision != ""
		}
	}
	if !found {
		t.Errorf("decisions = %+v", decisions)
	}
}

func TestEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.rego")
	if err := os.WriteFile(broken, []byte("package b\n\nrevoke contains {\"msg\": x} if {\n\tx := nope\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"no policies":     {[]string{"eval", "-f", filepath.Join(samplesDir, "30-contractor.yaml")}, "no policies"},
		"bad time":        {[]string{"eval", "-f", samplesDir, "--now", "tomorrow"}, `--now "tomorrow" is not an RFC 3339 time`},
		"bad output":      {[]string{"eval", "-f", samplesDir, "-o", "xml"}, `-o "xml": use table, json or yaml`},
		"bad fail-on":     {[]string{"eval", "-f", samplesDir, "--fail-on", "allow"}, `--fail-on "allow": use quarantine or revoke`},
		"compile error":   {[]string{"eval", "-f", samplesDir, "--policies", dir}, broken + ":4:"},
		"unknown kind":    {[]string{"eval", "-f", unknown}, unknown + ": document 1: unknown kind apps/v1 Deployment"},
		"missing file":    {[]string{"eval", "-f", filepath.Join(dir, "nope.yaml")}, "nope.yaml: no such file"},
		"missing --data":  {[]string{"eval", "-f", samplesDir, "--builtin-policies", "--data", filepath.Join(dir, "nope.yaml")}, "--data: reading reference data"},
		"no files at all": {[]string{"eval"}, `required flag(s) "filename" not set`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q\n%s", err, tt.want, out)
			}
		})
	}
}

func TestTestCommand(t *testing.T) {
	out, err := run(t, "test", "../../policies")
	if err != nil {
		t.Fatalf("portcullis test policies: %v\n%s", err, out)
	}
	if !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("no summary line:\n%s", out)
	}

	dir := t.TempDir()
	if _, err := run(t, "test", dir); err == nil || !strings.Contains(err.Error(), "no Rego tests or scenarios found") {
		t.Errorf("an empty library passed: %v", err)
	}

	failing := "package f_test\n\ntest_wrong if {\n\t1 == 2\n}\n\ntest_right if {\n\t1 == 1\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "f_test.rego"), []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "test", dir)
	if !errors.Is(err, offline.ErrFailed) {
		t.Fatalf("a failing test passed: %v\n%s", err, out)
	}
	for _, want := range []string{"--- FAIL: data.f_test.test_wrong", "1 passed, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
