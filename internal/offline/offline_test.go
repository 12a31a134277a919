package offline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

func TestLoadRejectsBadInput(t *testing.T) {
	tests := map[string]struct{ manifest, want string }{
		"unknown kind": {
			"apiVersion: access.portcullis.dev/v1alpha1\nkind: Contractor\nmetadata: {name: a}\nspec: {displayName: A, email: a@x, claimedLocation: {country: US}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
			"f.yaml: document 1: unknown kind apps/v1 Deployment",
		},
		"unknown field": {
			"apiVersion: access.portcullis.dev/v1alpha1\nkind: AccessGrant\nmetadata: {name: g}\nspec: {contractorRef: {name: a}, systemRef: {name: s}, entitlment: {name: edit}}\n",
			`f.yaml: document 0: AccessGrant "g": json: unknown field "entitlment"`,
		},
		"broken YAML": {"kind: [\n", "f.yaml: document 0:"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := (&Resources{}).AddManifest("f.yaml", []byte(tt.manifest))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddManifest() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadPathsReadsDirectoriesAndSkipsKustomizations(t *testing.T) {
	res, err := LoadPaths(filepath.Join("..", "..", "config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	// The story of config/samples (Alex, and the laptop farm of Jordan and
	// Casey: three grants on this cluster), and the connector samples below
	// it, a system and a grant each, and a sign-in source for each identity
	// provider.
	connectorSamples, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "connectors", "*.yaml"))
	if err != nil || len(connectorSamples) == 0 {
		t.Fatalf("no connector samples: %v", err)
	}
	n := len(connectorSamples)
	if len(res.Contractors) != 3 || len(res.Grants) != 3+n || len(res.Policies) != 1 || len(res.Systems) != 1+n ||
		len(res.Findings) != 1 || len(res.PolicyExceptions) != 1 || len(res.SignInSources) != 3 {
		t.Fatalf("samples not all read: %d contractors, %d grants, %d policies, %d systems, %d findings, %d exceptions, %d sign-in sources",
			len(res.Contractors), len(res.Grants), len(res.Policies), len(res.Systems), len(res.Findings), len(res.PolicyExceptions),
			len(res.SignInSources))
	}
}

func TestGatherNamesWhatIsMissing(t *testing.T) {
	res := &Resources{Grants: []accessv1alpha1.AccessGrant{{}}}
	res.Grants[0].Namespace, res.Grants[0].Name = "ns", "g"
	res.Grants[0].Spec.ContractorRef.Name = "ghost"
	_, err := res.Gather(&res.Grants[0], time.Now())
	if err == nil || !strings.Contains(err.Error(), `Contractor "ghost" is not in the files`) {
		t.Fatalf("Gather() = %v", err)
	}
}

func TestScenarioSuites(t *testing.T) {
	runner := libraryRunner(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "policies", "scenarios", "remote-workers", "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	suite, err := ParseSuite("remote-workers.yaml", raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runner.Run(context.Background(), "remote-workers.yaml", suite) {
		if len(r.Failures) > 0 {
			t.Errorf("%s: %v", r.Name, r.Failures)
		}
	}
}

// oneGrantSuite opens a suite of one contractor with one grant; the
// scenarios follow.
const oneGrantSuite = `
base:
  - apiVersion: access.portcullis.dev/v1alpha1
    kind: ConnectedSystem
    metadata: {name: s}
    spec: {type: kubernetes, kubernetes: {}}
  - apiVersion: access.portcullis.dev/v1alpha1
    kind: Contractor
    metadata: {name: c, namespace: ns}
    spec: {displayName: C, email: c@x, claimedLocation: {country: US}}
  - apiVersion: access.portcullis.dev/v1alpha1
    kind: AccessGrant
    metadata: {name: g, namespace: ns}
    spec: {contractorRef: {name: c}, systemRef: {name: s}, entitlement: {name: edit}, justification: j, approver: a}
scenarios:
`

func TestScenarioWithoutExpectationFails(t *testing.T) {
	base := oneGrantSuite
	tests := map[string]string{
		"no expectation": "  - {name: n, now: \"2026-11-28T00:00:00Z\", expect: []}\n",
		"no action":      "  - {name: n, now: \"2026-11-28T00:00:00Z\", expect: [{grant: ns/g, codes: []}]}\n",
		"no codes":       "  - {name: n, now: \"2026-11-28T00:00:00Z\", expect: [{grant: ns/g, action: Allow}]}\n",
		"unknown grant":  "  - {name: n, now: \"2026-11-28T00:00:00Z\", expect: [{grant: ns/g, action: Allow, codes: []}, {grant: ns/x, action: Allow, codes: []}]}\n",
		"wrong action":   "  - {name: n, now: \"2026-11-28T00:00:00Z\", expect: [{grant: ns/g, action: Revoke, codes: []}]}\n",
		"bad time":       "  - {name: n, now: \"yesterday\", expect: [{grant: ns/g, action: Allow, codes: []}]}\n",
		"neither":        "  - {name: n, now: \"2026-11-28T00:00:00Z\"}\n",
		"bad label":      "  - {name: n, label: suspicious, now: \"2026-11-28T00:00:00Z\"}\n",
	}
	wants := map[string]string{
		"no expectation": "grant ns/g has no expectation",
		"no action":      "the expectation needs both action and codes",
		"no codes":       "the expectation needs both action and codes",
		"unknown grant":  "expect names grant ns/x, which is not among the resources",
		"wrong action":   "grant ns/g: action = Allow, want Revoke",
		"bad time":       `now "yesterday" is not an RFC 3339 time`,
		"neither":        "the scenario has neither expect nor a label",
		"bad label":      `label "suspicious" is neither honest nor hostile`,
	}
	runner := &Runner{Modules: []policy.Module{{Name: "p", Source: "package p\n\nrevoke contains {\"msg\": \"x\"} if false\n"}}}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			suite, err := ParseSuite("s.yaml", []byte(base+tt))
			if err != nil {
				t.Fatal(err)
			}
			results := runner.Run(context.Background(), "s.yaml", suite)
			if len(results) != 1 || !strings.Contains(strings.Join(results[0].Failures, "\n"), wants[name]) {
				t.Fatalf("failures = %v, want one containing %q", results, wants[name])
			}
		})
	}
}

func TestDetectionMeasure(t *testing.T) {
	suite := oneGrantSuite + `  - {name: caught, label: hostile, now: "2026-11-28T00:00:00Z", data: {bad: true}}
  - {name: missed, label: hostile, now: "2026-11-28T00:00:00Z"}
  - {name: left alone, label: honest, now: "2026-11-28T00:00:00Z"}
  - {name: wronged, label: honest, now: "2026-11-28T00:00:00Z", data: {odd: true}}
`
	runner := &Runner{Modules: []policy.Module{{Name: "p", Source: "package p\n\n" +
		"revoke contains {\"msg\": \"bad\", \"code\": \"Bad\"} if data.portcullis.bad\n" +
		"quarantine contains {\"msg\": \"odd\", \"code\": \"Odd\"} if data.portcullis.odd\n"}}}
	parsed, err := ParseSuite("d.yaml", []byte(suite))
	if err != nil {
		t.Fatal(err)
	}
	results := runner.Run(context.Background(), "d.yaml", parsed)
	for _, r := range results {
		if len(r.Failures) > 0 {
			t.Fatalf("%s: %v", r.Name, r.Failures)
		}
	}
	checkMeasure(t, Measure(results))
}

func checkMeasure(t *testing.T, d Detection) {
	t.Helper()
	if d.Hostile != 2 || d.Honest != 2 || len(d.Actioned) != 1 || len(d.Missed) != 1 || len(d.Revoked) != 0 || len(d.Quarantined) != 1 {
		t.Fatalf("measure = %+v", d)
	}
	if d.Missed[0].Name != "missed" || d.Quarantined[0].Name != "wronged" || !slices.Equal(d.Quarantined[0].Codes, []string{"Odd"}) {
		t.Errorf("misses named wrong: %+v", d)
	}
	if d.Meets(DefaultTargets) {
		t.Error("half the hostile scenarios missed and half the honest quarantined meets the targets")
	}
	if !d.Meets(Targets{HostileActioned: 0.5, HonestQuarantined: 0.5}) {
		t.Error("the measurement misses targets it reaches")
	}
	var out strings.Builder
	d.Print(&out, DefaultTargets)
	for _, want := range []string{"hostile actioned      1/2    50.0 %", `missed (hostile, allowed): "missed"`, `honest, quarantined: "wronged" (d.yaml#3) [Odd]`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// validFinding is a Finding the API server accepts; the cases of
// TestAddManifestRefusesWhatTheAPIServerRefuses break one field of it.
const validFinding = `apiVersion: access.portcullis.dev/v1alpha1
kind: Finding
metadata: {name: f, namespace: ns}
spec:
  contractorRef: {name: c}
  type: geolocation
  severity: Medium
  source: test
`

func TestAddManifestRefusesWhatTheAPIServerRefuses(t *testing.T) {
	const prefix = `f.yaml: document 0: Finding.access.portcullis.dev "f" is invalid: `
	tests := map[string]struct{ manifest, want string }{
		"invalid type enum": {
			strings.Replace(validFinding, "type: geolocation", "type: not-a-type", 1),
			prefix + `spec.type: Unsupported value: "not-a-type": supported values: "geolocation", "sanctioned-country", "anonymizer",`,
		},
		"invalid severity enum": {
			strings.Replace(validFinding, "severity: Medium", "severity: Severe", 1),
			prefix + `spec.severity: Unsupported value: "Severe": supported values: "Info", "Low", "Medium", "High", "Critical"`,
		},
		"enum is case-sensitive": {
			strings.Replace(validFinding, "severity: Medium", "severity: medium", 1),
			prefix + `spec.severity: Unsupported value: "medium"`,
		},
		"missing required field": {
			strings.Replace(validFinding, "  source: test\n", "", 1),
			prefix + `spec.source: Required value`,
		},
		"missing spec": {
			"apiVersion: access.portcullis.dev/v1alpha1\nkind: Finding\nmetadata: {name: f, namespace: ns}\n",
			prefix + `spec: Required value`,
		},
		"wrong type": {
			validFinding + "  count: three\n",
			prefix + `spec.count: Invalid value: "string": spec.count in body must be of type integer: "string"`,
		},
		"below the minimum": {
			validFinding + "  count: 0\n",
			prefix + `spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1`,
		},
		"too long": {
			validFinding + "  summary: " + strings.Repeat("x", 5000) + "\n",
			prefix + `spec.summary: Too long: may not be more than`,
		},
		"duplicate in a set": {
			validFinding + "  evidence: {relatedContractors: [a, a]}\n",
			prefix + `spec.evidence.relatedContractors[1]: Duplicate value: "a"`,
		},
		"field of another case, which encoding/json would take": {
			validFinding + "  Summary: sneaked in\n",
			prefix + `spec.Summary: Forbidden: unknown field (field names are case-sensitive)`,
		},
		"name that is no DNS subdomain": {
			strings.Replace(validFinding, "name: f,", "name: F_1,", 1),
			`Finding.access.portcullis.dev "F_1" is invalid: metadata.name: Invalid value: "F_1": a lowercase RFC 1123 subdomain`,
		},
		"no name": {
			strings.Replace(validFinding, "name: f,", "", 1),
			`Finding.access.portcullis.dev "" is invalid: metadata.name: Required value: name or generateName is required`,
		},
		"bad namespace": {
			strings.Replace(validFinding, "namespace: ns", "namespace: ../etc", 1),
			prefix + `metadata.namespace: Invalid value: "../etc"`,
		},
		"every error at once, sorted": {
			strings.NewReplacer("type: geolocation", "type: nope", "severity: Medium", "severity: Severe").Replace(validFinding),
			prefix + `[spec.severity: Unsupported value: "Severe"`,
		},
		"pattern": {
			"apiVersion: access.portcullis.dev/v1alpha1\nkind: Contractor\nmetadata: {name: c, namespace: ns}\nspec: {displayName: C, email: not-an-address, claimedLocation: {country: US}}\n",
			`Contractor.access.portcullis.dev "c" is invalid: spec.email: Invalid value: "not-an-address": spec.email in body should match`,
		},
		"CEL rule of the CRD": {
			strings.Replace(validFinding, "type: geolocation", "type: anonymizer", 1),
			prefix + `spec: Invalid value: anonymizerKind is required when type is anonymizer`,
		},
		"CEL rule on a nested field": {
			"apiVersion: access.portcullis.dev/v1alpha1\nkind: Contractor\nmetadata: {name: c, namespace: ns}\n" +
				"spec: {displayName: C, email: c@example.com, claimedLocation: {country: US},\n" +
				"  travelNotices: [{country: FR, from: \"2026-12-10T00:00:00Z\", until: \"2026-12-01T00:00:00Z\"}]}\n",
			`Contractor.access.portcullis.dev "c" is invalid: spec.travelNotices[0]: Invalid value: until must be later than from`,
		},
		"invalid item of a List": {
			"apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.Replace(validFinding, "severity: Medium", "severity: Severe", 1), "\n", "\n  "),
			`f.yaml: document 0: items[0]: Finding.access.portcullis.dev "f" is invalid: spec.severity: Unsupported value: "Severe"`,
		},
		"List item that is no object": {
			"apiVersion: v1\nkind: List\nitems: [just-a-string]\n",
			"f.yaml: document 0: items[0]: an item is an object with apiVersion and kind, not string",
		},
		"List item without a kind": {
			"apiVersion: v1\nkind: List\nitems: [{metadata: {name: x}}]\n",
			"f.yaml: document 0: items[0]: apiVersion and kind are required",
		},
		"List inside a List": {
			"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: []}]\n",
			"f.yaml: document 0: items[0]: unknown kind v1 List",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res := &Resources{}
			err := res.AddManifest("f.yaml", []byte(tt.manifest))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddManifest() = %v,\nwant it to contain %q", err, tt.want)
			}
			if len(res.Findings)+len(res.Contractors) != 0 {
				t.Errorf("a refused object was added: %+v %+v", res.Findings, res.Contractors)
			}
		})
	}
}

func TestAddManifestDefaultsAsTheAPIServerDoes(t *testing.T) {
	manifest := validFinding + "  summary: null\n---\n" + `apiVersion: access.portcullis.dev/v1alpha1
kind: AccessPolicy
metadata: {name: p}
spec: {rego: "package p"}
---
apiVersion: v1
kind: List
items:
- {apiVersion: access.portcullis.dev/v1alpha1, kind: ConnectedSystem, metadata: {name: s}, spec: {type: kubernetes, kubernetes: {}}}
`
	res := &Resources{}
	if err := res.AddManifest("f.yaml", []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || len(res.Policies) != 1 || len(res.Systems) != 1 {
		t.Fatalf("read %d findings, %d policies, %d systems; want one of each", len(res.Findings), len(res.Policies), len(res.Systems))
	}
	if got := res.Findings[0].Spec.Count; got != 1 {
		t.Errorf("Finding count = %d, want the CRD's default 1", got)
	}
	if p := res.Policies[0].Spec; p.EnforcementAction != accessv1alpha1.EnforcementEnforce || p.FailurePolicy != accessv1alpha1.FailureQuarantine {
		t.Errorf("AccessPolicy spec = %+v, want the CRD's defaults enforce and Quarantine", p)
	}
	if k := res.Systems[0].Spec.Kubernetes; k == nil || k.QuarantineClusterRole != "view" {
		t.Errorf("ConnectedSystem kubernetes = %+v, want the CRD's default quarantineClusterRole view", k)
	}
}

func TestExceptionsWithoutPolicy(t *testing.T) {
	exception := func(namespace, name, pol string) accessv1alpha1.PolicyException {
		e := accessv1alpha1.PolicyException{}
		e.Namespace, e.Name, e.Spec.Policy = namespace, name, pol
		return e
	}
	pols := []policy.Policy{{Name: "risk"}, {Name: "anonymizers"}, {Name: "geolocation"}}
	tests := map[string]struct {
		exceptions []accessv1alpha1.PolicyException
		want       []string
	}{
		"every exception names a policy": {
			exceptions: []accessv1alpha1.PolicyException{exception("ns", "a", "risk"), exception("ns", "b", "anonymizers")},
		},
		"a misspelt policy": {
			exceptions: []accessv1alpha1.PolicyException{exception("ns", "b", "anonymizer"), exception("ns", "a", "risk")},
			want:       []string{`PolicyException ns/b names policy "anonymizer", which is not among the policies evaluated (anonymizers, geolocation, risk): it exempts nothing; fix spec.policy`},
		},
		"in namespace/name order": {
			exceptions: []accessv1alpha1.PolicyException{exception("z", "a", "x"), exception("a", "z", "y")},
			want: []string{
				`PolicyException a/z names policy "y", which is not among the policies evaluated (anonymizers, geolocation, risk): it exempts nothing; fix spec.policy`,
				`PolicyException z/a names policy "x", which is not among the policies evaluated (anonymizers, geolocation, risk): it exempts nothing; fix spec.policy`,
			},
		},
		"a hostile name stays on one line": {
			exceptions: []accessv1alpha1.PolicyException{exception("ns", "a", "risk\nWarning: all is well")},
			want:       []string{`PolicyException ns/a names policy "risk\nWarning: all is well", which is not among the policies evaluated (anonymizers, geolocation, risk): it exempts nothing; fix spec.policy`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := (&Resources{PolicyExceptions: tt.exceptions}).ExceptionsWithoutPolicy(pols)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ExceptionsWithoutPolicy() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestEveryKindHasItsCRDSchema(t *testing.T) {
	schemas, err := crdSchemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"Contractor", "AccessGrant", "AccessPolicy", "ConnectedSystem", "Finding", "PolicyException"} {
		key := accessv1alpha1.GroupVersion.String() + "/" + kind
		if schemas[key] == nil {
			t.Errorf("no CRD schema for %s: its objects would not be validated", key)
		}
		if target, _ := (&Resources{}).slot(key); target == nil {
			t.Errorf("%s is not read", key)
		}
	}
}

// libraryRunner runs scenarios against the default library and its data.
func libraryRunner(t *testing.T) *Runner {
	t.Helper()
	modules, err := policy.DefaultModules()
	if err != nil {
		t.Fatal(err)
	}
	data, err := policy.DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Modules: modules, Data: data}
}
