package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/manifests"
	"github.com/portcullis-dev/portcullis/internal/offline"
	"github.com/portcullis-dev/portcullis/test/geoipdb"
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

// runWithStdin executes the CLI in-process with stdin as its standard
// input, and returns its standard output and standard error apart.
func runWithStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// sampleDocuments returns the samples' manifests, less the kustomization
// and the files named in except, as one multi-document YAML stream.
func sampleDocuments(t *testing.T, except ...string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" || slices.Contains(except, filepath.Base(f)) {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(raw))
	}
	return strings.Join(docs, "\n---\n")
}

// asList wraps YAML documents in a v1 List, as kubectl get -o yaml prints.
func asList(t *testing.T, yamlDocs string) string {
	t.Helper()
	objs, err := manifests.Decode("samples", []byte(yamlDocs))
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 0, len(objs))
	for _, o := range objs {
		items = append(items, o.Object)
	}
	raw, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestEvalReadsStandardInput(t *testing.T) {
	samples := sampleDocuments(t)
	policyFile := filepath.Join(samplesDir, "20-accesspolicy.yaml")
	withoutPolicy := sampleDocuments(t, filepath.Base(policyFile))
	tests := map[string]struct {
		stdin string
		args  []string
	}{
		"multi-document YAML":                        {stdin: samples, args: []string{"-f", "-"}},
		"a JSON List, as kubectl get -o json prints": {stdin: asList(t, samples), args: []string{"-f", "-"}},
		"JSON documents one after another":           {stdin: jsonStream(t, samples), args: []string{"-f", "-"}},
		"standard input beside a file":               {stdin: withoutPolicy, args: []string{"-f", policyFile, "-f", "-"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"eval", "--now", "2026-11-28T12:00:00Z"}, tt.args...)
			out, errOut, err := runWithStdin(t, tt.stdin, args...)
			if err != nil {
				t.Fatalf("eval: %v\n%s%s", err, out, errOut)
			}
			for _, want := range []string{"contractors/alex-payments-edit", "contractors/jordan-payments-edit", "(exception alex-conference-vpn)"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// jsonStream renders YAML documents as JSON objects one after another.
func jsonStream(t *testing.T, yamlDocs string) string {
	t.Helper()
	objs, err := manifests.Decode("samples", []byte(yamlDocs))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range objs {
		raw, err := json.MarshalIndent(o.Object, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteString("\n")
	}
	return b.String()
}

func TestEvalStandardInputErrors(t *testing.T) {
	invalid := strings.Replace(sampleDocuments(t), "severity: Medium", "severity: Severe", 1)
	tests := map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"-f - twice": {
			stdin: sampleDocuments(t), args: []string{"-f", "-", "-f", samplesDir, "-f", "-"},
			want: "-f - is given twice: standard input can be read only once",
		},
		"nothing on standard input": {args: []string{"-f", "-"}, want: "no policies"},
		"not YAML": {
			stdin: "kind: [\n", args: []string{"-f", "-"},
			want: "standard input: document 0:",
		},
		"an unknown kind": {
			stdin: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n", args: []string{"-f", "-"},
			want: "standard input: document 0: unknown kind apps/v1 Deployment",
		},
		"an invalid object": {
			stdin: invalid, args: []string{"-f", "-"},
			want: `standard input: document 6: Finding.access.portcullis.dev "alex-morgan-anonymizer-vpn" is invalid: spec.severity: Unsupported value: "Severe"`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, err := runWithStdin(t, tt.stdin, append([]string{"eval"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q\n%s%s", err, tt.want, out, errOut)
			}
		})
	}
}

func TestEvalRefusesWhatTheAPIServerRefuses(t *testing.T) {
	finding := filepath.Join(samplesDir, "50-finding.yaml")
	valid, err := os.ReadFile(finding)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct{ from, to, want string }{
		"invalid type": {"type: anonymizer", "type: not-a-type",
			`Finding.access.portcullis.dev "alex-morgan-anonymizer-vpn" is invalid: spec.type: Unsupported value: "not-a-type": supported values: "geolocation",`},
		"invalid severity": {"severity: Medium", "severity: Severe",
			`Finding.access.portcullis.dev "alex-morgan-anonymizer-vpn" is invalid: spec.severity: Unsupported value: "Severe": supported values: "Info", "Low", "Medium", "High", "Critical"`},
		"missing required field": {"  source: portcullis-ingester\n", "",
			`Finding.access.portcullis.dev "alex-morgan-anonymizer-vpn" is invalid: spec.source: Required value`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "finding.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(valid), tt.from, tt.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := run(t, "eval", "-f", filepath.Join(samplesDir, "20-accesspolicy.yaml"), "-f", path)
			if err == nil || !strings.Contains(err.Error(), path+": document 0: "+tt.want) {
				t.Fatalf("err = %v, want it to contain %q\n%s", err, tt.want, out)
			}
		})
	}
	// The samples as they are evaluate, with the library too.
	if out, err := run(t, "eval", "-f", samplesDir, "--builtin-policies", "--now", "2026-11-28T12:00:00Z"); err != nil {
		t.Errorf("the samples were refused: %v\n%s", err, out)
	}
}

func TestEvalWarnsOfExceptionsNamingNoPolicy(t *testing.T) {
	samples := sampleDocuments(t)
	tests := map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"every exception names a policy": {stdin: samples, args: []string{"--builtin-policies"}},
		"a misspelt policy": {
			stdin: strings.Replace(samples, "policy: anonymizers", "policy: anonymizer", 1),
			args:  []string{"--builtin-policies"},
			want:  `Warning: PolicyException contractors/alex-conference-vpn names policy "anonymizer", which is not among the policies evaluated (anonymizers, geolocation, risk, verification): it exempts nothing; fix spec.policy` + "\n",
		},
		"a library policy that was not loaded": {
			stdin: strings.Replace(samples, "policy: anonymizers", "policy: risk", 1),
			want:  `Warning: PolicyException contractors/alex-conference-vpn names policy "risk", which is not among the policies evaluated (anonymizers): it exempts nothing; fix spec.policy` + "\n",
		},
		"a name that tries to forge a line": {
			stdin: strings.Replace(samples, "policy: anonymizers", `policy: "x\nWarning: none"`, 1),
			want:  `Warning: PolicyException contractors/alex-conference-vpn names policy "x\nWarning: none", which is not among the policies evaluated (anonymizers): it exempts nothing; fix spec.policy` + "\n",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"eval", "-f", "-", "-o", "json", "--now", "2026-11-28T12:00:00Z"}, tt.args...)
			out, errOut, err := runWithStdin(t, tt.stdin, args...)
			if err != nil {
				t.Fatalf("eval failed on a warning: %v\n%s", err, errOut)
			}
			if errOut != tt.want {
				t.Errorf("standard error =\n%q\nwant\n%q", errOut, tt.want)
			}
			var decisions []offline.GrantDecision
			if err := json.Unmarshal([]byte(out), &decisions); err != nil || len(decisions) != 3 {
				t.Errorf("standard output is not the samples' 3 decisions as JSON (%v):\n%s", err, out)
			}
		})
	}
}

// signInNow is the --now of the sign-in tests; their events lie before it.
const signInNow = "2026-11-28T12:00:00Z"

// farmResources writes a ConnectedSystem and three contractors with a
// grant each: sam (with an Okta-style account) and kim, who will share an
// address, and lee, who will sign in from North Korea.
func farmResources(t *testing.T) string {
	t.Helper()
	docs := []string{`apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata:
  name: this-cluster
spec:
  type: kubernetes
  kubernetes:
    quarantineClusterRole: view
    allowedClusterRoles: [edit]
    allowedNamespaces: [payments]`}
	for _, name := range []string{"sam", "kim", "lee"} {
		docs = append(docs, `apiVersion: access.portcullis.dev/v1alpha1
kind: Contractor
metadata:
  name: `+name+`
  namespace: acme
spec:
  displayName: `+name+`
  email: `+name+`@contractors.example.com
  claimedLocation:
    country: US
  accounts:
    - system: this-cluster
      id: `+name+`@contractors.example.com`, `apiVersion: access.portcullis.dev/v1alpha1
kind: AccessGrant
metadata:
  name: `+name+`-edit
  namespace: acme
spec:
  contractorRef:
    name: `+name+`
  systemRef:
    name: this-cluster
  entitlement:
    kind: ClusterRole
    name: edit
    namespace: payments
  justification: Builds the refund service.
  approver: priya.shah@example.com`)
	}
	path := filepath.Join(t.TempDir(), "farm.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// geoipFlags writes small databases, a US range and a North Korean one,
// and a Tor exit list, and returns the flags that name them.
func geoipFlags(t *testing.T) []string {
	t.Helper()
	country := geoipdb.Write(t, "GeoIP2-Country", map[string]mmdbtype.Map{
		"203.0.113.0/24": geoipdb.Country("US"), "175.45.176.0/22": geoipdb.Country("KP")})
	asn := geoipdb.Write(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"203.0.113.0/24": geoipdb.ASN(7922, "Comcast Cable Communications, LLC")})
	tor := filepath.Join(t.TempDir(), "tor-exits.txt")
	if err := os.WriteFile(tor, []byte("185.220.101.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--geoip-country-db", country, "--geoip-asn-db", asn, "--tor-exit-list", tor}
}

func writeSignIns(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signins.ndjson")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// decisionsByContractor runs eval -o json and returns the stderr and each
// contractor's action and reason codes.
func decisionsByContractor(t *testing.T, args ...string) (map[string]string, map[string][]string, string) {
	t.Helper()
	stdout, stderr, err := runWithStdin(t, "", append([]string{"eval", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	var decisions []offline.GrantDecision
	if err := json.Unmarshal([]byte(stdout), &decisions); err != nil {
		t.Fatalf("decoding %s: %v", stdout, err)
	}
	actions, codes := map[string]string{}, map[string][]string{}
	for _, d := range decisions {
		actions[d.Contractor] = string(d.Decision.Action)
		for _, r := range d.Decision.Reasons {
			codes[d.Contractor] = append(codes[d.Contractor], r.Code)
		}
	}
	return actions, codes, stderr
}

func TestEvalSignInsFindTheLaptopFarm(t *testing.T) {
	signIns := writeSignIns(t,
		`{"account":{"system":"this-cluster","id":"sam@contractors.example.com"},"ip":"203.0.113.7","time":"2026-11-28T10:00:00Z","deviceID":"farm-01"}`,
		`{"contractor":"acme/kim","ip":"203.0.113.7","time":"2026-11-28T10:01:00Z"}`,
		`{"contractor":"acme/lee","ip":"175.45.176.9","time":"2026-11-28T10:02:00Z","timezone":"Asia/Pyongyang"}`,
		`{"contractor":"acme/lee","ip":"not-an-ip","time":"2026-11-28T10:03:00Z"}`,
		`{"contractor":"acme/nobody","ip":"203.0.113.8","time":"2026-11-28T10:04:00Z"}`)
	args := append([]string{"-f", farmResources(t), "--builtin-policies", "--now", signInNow, "--signins", signIns}, geoipFlags(t)...)
	actions, codes, stderr := decisionsByContractor(t, args...)

	if actions["lee"] != "Revoke" || !slices.Contains(codes["lee"], "SanctionedCountry") {
		t.Errorf("lee = %s %v, want Revoke with SanctionedCountry", actions["lee"], codes["lee"])
	}
	for _, name := range []string{"sam", "kim"} {
		if !slices.ContainsFunc(codes[name], func(c string) bool { return strings.HasPrefix(c, "Shared") }) {
			t.Errorf("%s = %s %v, want a shared-infrastructure reason", name, actions[name], codes[name])
		}
	}
	for _, want := range []string{"event 3: ", "not an IP address", "event 4: ", "acme/nobody does not exist", "3 accepted"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "not enriched") {
		t.Errorf("stderr warns of missing enrichment though databases were given:\n%s", stderr)
	}
}

func TestEvalSignInsWithoutDatabasesWarns(t *testing.T) {
	signIns := writeSignIns(t,
		`{"contractor":"acme/kim","ip":"203.0.113.7","time":"2026-11-28T10:01:00Z"}`,
		`{"contractor":"acme/lee","ip":"175.45.176.9","time":"2026-11-28T10:02:00Z"}`)
	actions, codes, stderr := decisionsByContractor(t, "-f", farmResources(t), "--builtin-policies", "--now", signInNow, "--signins", signIns)
	if !strings.Contains(stderr, "Warning: sign-ins are not enriched") {
		t.Errorf("stderr lacks the enrichment warning:\n%s", stderr)
	}
	if slices.Contains(codes["lee"], "SanctionedCountry") {
		t.Errorf("lee = %s %v: without a country database no sign-in has a country", actions["lee"], codes["lee"])
	}
}

func TestEvalSignInsSamples(t *testing.T) {
	tor := filepath.Join(t.TempDir(), "tor-exits.txt")
	if err := os.WriteFile(tor, samples.TorExits, 0o644); err != nil {
		t.Fatal(err)
	}
	// The samples' latest event is 2026-11-28T16:00:00Z.
	actions, codes, stderr := decisionsByContractor(t, "-f", samplesDir, "--builtin-policies",
		"--signins", samplesDir+"/signins.ndjson", "--tor-exit-list", tor, "--now", "2026-12-05T12:00:00Z")
	if !slices.Contains(codes["casey-novak"], "TorExit") {
		t.Errorf("casey-novak = %s %v, want the Tor exit the samples' sign-ins show", actions["casey-novak"], codes["casey-novak"])
	}
	if !strings.Contains(stderr, "signins.ndjson: event 5: ") {
		t.Errorf("stderr lacks the sample's bad event:\n%s", stderr)
	}
}

func TestEvalSignInsRefusesStandardInputTwice(t *testing.T) {
	_, _, err := runWithStdin(t, "", "eval", "-f", "-", "--signins", "-", "--builtin-policies")
	if err == nil || !strings.Contains(err.Error(), "standard input can be read only once") {
		t.Errorf("eval -f - --signins - = %v, want the standard-input error", err)
	}
}

func TestEvalSignInsEntraExport(t *testing.T) {
	export := filepath.Join(t.TempDir(), "entra.json")
	page := `{"value":[
 {"createdDateTime":"2026-11-28T10:02:00Z","userPrincipalName":"lee@contractors.example.com","ipAddress":"175.45.176.9","status":{"errorCode":0}},
 {"createdDateTime":"2026-11-28T10:03:00Z","userPrincipalName":"kim@contractors.example.com","ipAddress":"175.45.176.10","status":{"errorCode":50126}}]}`
	if err := os.WriteFile(export, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-f", farmResources(t), "--builtin-policies", "--now", signInNow, "--signins", export,
		"--signins-format", "entra", "--signins-system", "this-cluster"}, geoipFlags(t)...)
	actions, codes, stderr := decisionsByContractor(t, args...)
	if actions["lee"] != "Revoke" || !slices.Contains(codes["lee"], "SanctionedCountry") {
		t.Errorf("lee = %s %v, want Revoke with SanctionedCountry", actions["lee"], codes["lee"])
	}
	if slices.Contains(codes["kim"], "SanctionedCountry") {
		t.Errorf("kim = %s %v: a failed sign-in is not the contractor's presence", actions["kim"], codes["kim"])
	}
	for _, want := range []string{"1 sign-ins from the entra export; skipped 1", "1 accepted"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	_, _, err := runWithStdin(t, "", "eval", "-f", farmResources(t), "--builtin-policies", "--signins", export, "--signins-format", "entra")
	if err == nil || !strings.Contains(err.Error(), "--signins-system") {
		t.Errorf("--signins-format without --signins-system = %v, want an error naming it", err)
	}
}
