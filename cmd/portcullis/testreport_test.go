package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/offline"
)

// failingLibrary is a library with one passing and one failing Rego test.
func failingLibrary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := "package f_test\n\ntest_wrong if {\n\t1 == 2\n}\n\ntest_right if {\n\t1 == 1\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "f_test.rego"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTestOutputJSON(t *testing.T) {
	out, err := run(t, "test", "../../policies", "-o", "json", "--detection")
	if err != nil {
		t.Fatalf("portcullis test -o json: %v\n%s", err, out)
	}
	var r testReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.Failed != 0 || r.Passed == 0 || r.Passed != len(r.Cases) {
		t.Errorf("passed %d, failed %d, %d cases", r.Passed, r.Failed, len(r.Cases))
	}
	kinds := map[string]int{}
	for _, c := range r.Cases {
		kinds[c.Kind]++
	}
	if kinds[kindRego] == 0 || kinds[kindScenario] == 0 {
		t.Errorf("cases by kind = %v, want Rego tests and scenarios", kinds)
	}
	if r.Detection == nil || !r.Detection.MeetsTargets || r.Detection.Hostile == 0 {
		t.Errorf("detection = %+v", r.Detection)
	}
}

func TestTestOutputJSONCountsFailures(t *testing.T) {
	out, err := run(t, "test", failingLibrary(t), "-o", "json")
	if !errors.Is(err, offline.ErrFailed) {
		t.Fatalf("a failing test passed: %v", err)
	}
	var r testReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.Passed != 1 || r.Failed != 1 {
		t.Errorf("passed %d, failed %d, want 1 and 1", r.Passed, r.Failed)
	}
}

func TestTestOutputJUnit(t *testing.T) {
	out, err := run(t, "test", failingLibrary(t), "-o", "junit")
	if !errors.Is(err, offline.ErrFailed) {
		t.Fatalf("a failing test passed: %v", err)
	}
	var doc junitSuites
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 {
		t.Fatalf("tests %d, failures %d, %d suites; want 2, 1, 1:\n%s", doc.Tests, doc.Failures, len(doc.Suites), out)
	}
	var failed *junitCase
	for i, c := range doc.Suites[0].Cases {
		if c.Failure != nil {
			failed = &doc.Suites[0].Cases[i]
		}
	}
	if failed == nil || failed.Name != "data.f_test.test_wrong" || !strings.Contains(failed.Failure.Text, "f_test.rego:3") {
		t.Errorf("failing case = %+v\n%s", failed, out)
	}
}

func TestTestOutputJUnitLibrary(t *testing.T) {
	out, err := run(t, "test", "../../policies", "-o", "junit", "--detection")
	if err != nil {
		t.Fatalf("portcullis test -o junit: %v\n%s", err, out)
	}
	var doc junitSuites
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if doc.Failures != 0 || doc.Tests < 100 || doc.Suites[len(doc.Suites)-1].Name != "detection" {
		t.Errorf("tests %d, failures %d, last suite %q", doc.Tests, doc.Failures, doc.Suites[len(doc.Suites)-1].Name)
	}
}

func TestTestOutputRefusesUnknownFormat(t *testing.T) {
	if _, err := run(t, "test", "../../policies", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "use text, json or junit") {
		t.Errorf("err = %v", err)
	}
}

// A library's reference data is read from portcullis/*.yaml, the layout
// opa loads under data.portcullis, and still from data/*.yaml and
// data/portcullis/*.yaml, the earlier layouts, the newest winning.
func TestTestReadsBothDataLayouts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("data/old.yaml", "legacy: 1\nshared: old\n")
	write("data/portcullis/older.yaml", "older: 3\nshared: older\n")
	write("portcullis/new.yaml", "current: 2\nshared: new\n")
	write("d_test.rego", "package d_test\n\ntest_data if {\n\tdata.portcullis.legacy == 1\n\tdata.portcullis.older == 3\n\tdata.portcullis.current == 2\n\tdata.portcullis.shared == \"new\"\n}\n")
	if out, err := run(t, "test", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
