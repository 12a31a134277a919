package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// newTestEngine builds an engine; without a timeout in opts it gets a
// generous one, so that -race on a loaded machine cannot turn a slow
// evaluation into a PolicyError. TestDeadline sets its own.
func newTestEngine(t testing.TB, opts Options) *OPAEngine {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	e, err := NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustUpsert(t testing.TB, e *OPAEngine, p Policy) {
	t.Helper()
	if _, err := e.Upsert(context.Background(), p); err != nil {
		t.Fatalf("Upsert(%s): %v", p.Name, err)
	}
}

// testInput is a contractor "sam" in namespace "ns" with grant "g" on a
// kubernetes system, and the given findings.
func testInput(findings ...accessv1alpha1.Finding) Input {
	return Input{
		Contractor: &accessv1alpha1.Contractor{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sam", Labels: map[string]string{"tier": "gold"}},
			Spec:       accessv1alpha1.ContractorSpec{ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"}},
		},
		Grant: &accessv1alpha1.AccessGrant{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"},
			Spec: accessv1alpha1.AccessGrantSpec{
				ContractorRef: accessv1alpha1.ContractorReference{Name: "sam"},
				SystemRef:     accessv1alpha1.SystemReference{Name: "k8s"},
			},
		},
		System: &accessv1alpha1.ConnectedSystem{
			ObjectMeta: metav1.ObjectMeta{Name: "k8s"},
			Spec:       accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes},
		},
		Findings: findings,
		Now:      testNow,
	}
}

func finding(typ accessv1alpha1.FindingType, country accessv1alpha1.CountryCode) accessv1alpha1.Finding {
	return accessv1alpha1.Finding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: string(typ) + "-" + string(country)},
		Spec: accessv1alpha1.FindingSpec{
			ContractorRef: accessv1alpha1.ContractorReference{Name: "sam"},
			Type:          typ, Severity: accessv1alpha1.SeverityHigh, Source: "test",
			Evidence: accessv1alpha1.Evidence{Country: country, IP: "203.0.113.9"},
		},
	}
}

// byCountry revokes on KP and quarantines on any other non-US finding.
const byCountry = `package t

revoke contains {"msg": "sanctioned", "code": "Sanctioned", "severity": "Critical"} if {
	some f in input.findings
	f.spec.evidence.country == "KP"
}

quarantine contains {"msg": sprintf("seen in %s", [f.spec.evidence.country]), "code": "Abroad"} if {
	some f in input.findings
	f.spec.evidence.country != "US"
}
`

func TestDecideActions(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "country", Source: byCountry})
	tests := []struct {
		name     string
		findings []accessv1alpha1.Finding
		want     accessv1alpha1.DecisionAction
		codes    []string
	}{
		{"no findings", nil, accessv1alpha1.ActionAllow, nil},
		{"abroad", []accessv1alpha1.Finding{finding("geolocation", "NL")}, accessv1alpha1.ActionQuarantine, []string{"Abroad"}},
		{"sanctioned wins", []accessv1alpha1.Finding{finding("geolocation", "KP")}, accessv1alpha1.ActionRevoke, []string{"Sanctioned", "Abroad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), testInput(tt.findings...))
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want {
				t.Errorf("action = %s, want %s", d.Action, tt.want)
			}
			if got := codes(d.Reasons); strings.Join(got, ",") != strings.Join(tt.codes, ",") {
				t.Errorf("codes = %v, want %v", got, tt.codes)
			}
			for _, r := range d.Reasons {
				if r.Policy != "country" || r.Rule == "" || r.Message == "" || r.Severity == "" {
					t.Errorf("incomplete reason %+v", r)
				}
			}
		})
	}
}

func codes(reasons []Reason) []string {
	var out []string
	for _, r := range reasons {
		out = append(out, r.Code)
	}
	return out
}

func TestExpiredFindingsDoNotCount(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "country", Source: byCountry})
	f := finding("geolocation", "KP")
	f.Spec.ExpiresAt = &metav1.Time{Time: testNow}
	d, err := e.Decide(context.Background(), testInput(f))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionAllow {
		t.Errorf("an expired finding decided %s", d.Action)
	}
}

func TestEnforcementActions(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "dry", Source: byCountry, Action: accessv1alpha1.EnforcementDryRun})
	mustUpsert(t, e, Policy{Name: "warn", Source: byCountry, Action: accessv1alpha1.EnforcementWarn})
	d, err := e.Decide(context.Background(), testInput(finding("geolocation", "KP")))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionAllow || len(d.Reasons) != 0 {
		t.Errorf("dryrun and warn policies enforced: %+v", d)
	}
	if d.DryRunAction() != accessv1alpha1.ActionRevoke || len(d.DryRun) != 2 {
		t.Errorf("dry run = %s %v, want Revoke with 2 reasons", d.DryRunAction(), d.DryRun)
	}
	if len(d.Warnings) != 2 || d.Warnings[0].Policy != "warn" {
		t.Errorf("warnings = %v", d.Warnings)
	}
}

func TestSelectors(t *testing.T) {
	e := newTestEngine(t, Options{})
	silver, _ := labels.Parse("tier=silver")
	mustUpsert(t, e, Policy{Name: "silver-only", Source: byCountry, Contractors: silver})
	mustUpsert(t, e, Policy{Name: "ldap-only", Source: byCountry, SystemTypes: []accessv1alpha1.SystemType{"ldap"}})
	d, err := e.Decide(context.Background(), testInput(finding("geolocation", "KP")))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionAllow {
		t.Errorf("policies that do not select the grant decided %s: %v", d.Action, d.Reasons)
	}
}

func TestExceptions(t *testing.T) {
	exception := func(name string, mutate func(*accessv1alpha1.PolicyExceptionSpec)) accessv1alpha1.PolicyException {
		e := accessv1alpha1.PolicyException{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: accessv1alpha1.PolicyExceptionSpec{
				ContractorRef: &accessv1alpha1.ContractorReference{Name: "sam"},
				Policy:        "country",
				ExpiresAt:     metav1.Time{Time: testNow.Add(time.Hour)},
			},
		}
		mutate(&e.Spec)
		return e
	}
	tests := []struct {
		name      string
		exception accessv1alpha1.PolicyException
		want      accessv1alpha1.DecisionAction
		exempted  int
	}{
		{"whole policy", exception("all", func(*accessv1alpha1.PolicyExceptionSpec) {}), accessv1alpha1.ActionAllow, 2},
		{"by code", exception("code", func(s *accessv1alpha1.PolicyExceptionSpec) { s.Codes = []string{"Sanctioned"} }),
			accessv1alpha1.ActionQuarantine, 1},
		{"by rule", exception("rule", func(s *accessv1alpha1.PolicyExceptionSpec) { s.Rules = []string{"quarantine"} }),
			accessv1alpha1.ActionRevoke, 1},
		{"by grant", exception("grant", func(s *accessv1alpha1.PolicyExceptionSpec) {
			s.ContractorRef = nil
			s.GrantRef = &accessv1alpha1.GrantReference{Name: "g"}
		}), accessv1alpha1.ActionAllow, 2},
		{"another grant", exception("other", func(s *accessv1alpha1.PolicyExceptionSpec) {
			s.GrantRef = &accessv1alpha1.GrantReference{Name: "other"}
		}), accessv1alpha1.ActionRevoke, 0},
		{"another policy", exception("policy", func(s *accessv1alpha1.PolicyExceptionSpec) { s.Policy = "nope" }),
			accessv1alpha1.ActionRevoke, 0},
		{"expired", exception("expired", func(s *accessv1alpha1.PolicyExceptionSpec) {
			s.ExpiresAt = metav1.Time{Time: testNow}
		}), accessv1alpha1.ActionRevoke, 0},
		{"longer than exceptions.max_days", exception("forever", func(s *accessv1alpha1.PolicyExceptionSpec) {
			s.ExpiresAt = metav1.Time{Time: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
		}), accessv1alpha1.ActionRevoke, 0},
	}
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "country", Source: byCountry})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testInput(finding("geolocation", "KP"))
			in.Exceptions = []accessv1alpha1.PolicyException{tt.exception}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want || len(d.Exempted) != tt.exempted {
				t.Errorf("action = %s with %d exempted, want %s with %d", d.Action, len(d.Exempted), tt.want, tt.exempted)
			}
			for _, r := range d.Exempted {
				if r.Exception != tt.exception.Name {
					t.Errorf("exempted reason names exception %q", r.Exception)
				}
			}
		})
	}
}

func TestMaxExceptionLifetime(t *testing.T) {
	for _, c := range []struct {
		data map[string]any
		want time.Duration
		err  bool
	}{
		{nil, DefaultMaxExceptionDays * 24 * time.Hour, false},
		{map[string]any{"exceptions": map[string]any{"max_days": 30}}, 30 * 24 * time.Hour, false},
		{map[string]any{"exceptions": map[string]any{"max_days": 0}}, 0, true},
		{map[string]any{"exceptions": map[string]any{"max_days": "90"}}, 0, true},
		{map[string]any{"exceptions": map[string]any{"max_days": 1.5}}, 0, true},
	} {
		e, err := NewEngine(Options{Data: c.data})
		if c.err {
			if err == nil || !strings.Contains(err.Error(), "exceptions.max_days") {
				t.Errorf("%v: got %v, want an error about exceptions.max_days", c.data, err)
			}
			continue
		}
		if err != nil || e.MaxExceptionLifetime() != c.want {
			t.Errorf("%v: got %v, %v; want %v", c.data, e, err, c.want)
		}
	}
}

func TestSandboxRejectsForbiddenBuiltins(t *testing.T) {
	calls := map[string]string{
		"http.send":              `http.send({"method": "GET", "url": "https://example.com"})`,
		"net.lookup_ip_addr":     `net.lookup_ip_addr("example.com")`,
		"opa.runtime":            `opa.runtime()`,
		"time.now_ns":            `time.now_ns()`,
		"rand.intn":              `rand.intn("x", 10)`,
		"uuid.rfc4122":           `uuid.rfc4122("x")`,
		"io.jwt.encode_sign":     `io.jwt.encode_sign({"alg": "HS256"}, {}, {"kty": "oct", "k": "a2V5"})`,
		"io.jwt.encode_sign_raw": `io.jwt.encode_sign_raw("{}", "{}", "{}")`,
	}
	e := newTestEngine(t, Options{})
	for builtin, call := range calls {
		t.Run(builtin, func(t *testing.T) {
			src := fmt.Sprintf("package s\n\nquarantine contains {\"msg\": sprintf(\"%%v\", [x])} if {\n\tx := %s\n}\n", call)
			_, err := e.Upsert(context.Background(), Policy{Name: "sandbox", Source: src})
			var cerr *CompileError
			if !errors.As(err, &cerr) {
				t.Fatalf("Upsert() = %v, want a CompileError", err)
			}
			want := fmt.Sprintf("sandbox:4:7: %s is not allowed in Portcullis policies", builtin)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		})
	}
	if len(e.Loaded()) != 0 {
		t.Errorf("a rejected policy was loaded: %v", e.Loaded())
	}
}

func TestStrictBuiltinErrorsFailClosed(t *testing.T) {
	src := "package b\n\nrevoke contains {\"msg\": \"late\"} if {\n\ttime.parse_rfc3339_ns(input.contractor.spec.email) > 0\n}\n"
	for _, tt := range []struct {
		failure accessv1alpha1.FailurePolicy
		want    accessv1alpha1.DecisionAction
	}{
		{"", accessv1alpha1.ActionQuarantine},
		{accessv1alpha1.FailureQuarantine, accessv1alpha1.ActionQuarantine},
		{accessv1alpha1.FailureIgnore, accessv1alpha1.ActionAllow},
	} {
		t.Run(string(tt.failure), func(t *testing.T) {
			e := newTestEngine(t, Options{})
			mustUpsert(t, e, Policy{Name: "builtin", Source: src, FailurePolicy: tt.failure})
			in := testInput()
			in.Contractor.Spec.Email = "not a time"
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want {
				t.Fatalf("action = %s, want %s", d.Action, tt.want)
			}
			all := append(append([]Reason{}, d.Reasons...), d.Warnings...)
			if len(all) != 1 || all[0].Code != CodePolicyError || !strings.Contains(all[0].Message, "time.parse_rfc3339_ns") {
				t.Errorf("want one PolicyError reason naming the builtin, got %+v", all)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	e := newTestEngine(t, Options{Timeout: 20 * time.Millisecond})
	slow := "package slow\n\nquarantine contains {\"msg\": \"n\"} if {\n\tcount([x | some x in numbers.range(1, 100000000); x % 7 == 0]) < 0\n}\n"
	mustUpsert(t, e, Policy{Name: "slow", Source: slow})
	d, err := e.Decide(context.Background(), testInput())
	if err != nil {
		t.Fatal(err)
	}
	// One overrun may be the manager's, not the policy's: it is tried
	// again before it fails.
	if d.Action != accessv1alpha1.ActionQuarantine || len(d.Reasons) != 1 ||
		!strings.Contains(d.Reasons[0].Message, "deadline of 20ms in each of 2 tries") {
		t.Errorf("a timed-out policy must quarantine with the deadline and the tries in the message, got %+v", d)
	}
}

func TestMalformedReasonsFailClosed(t *testing.T) {
	for name, head := range map[string]string{
		"no msg":       `quarantine contains {"code": "X"} if true`,
		"not object":   `quarantine contains "just a string" if true`,
		"bad severity": `revoke contains {"msg": "m", "severity": "Severe"} if true`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			mustUpsert(t, e, Policy{Name: "bad", Source: "package m\n\n" + head + "\n"})
			d, err := e.Decide(context.Background(), testInput())
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != accessv1alpha1.ActionQuarantine || d.Reasons[0].Code != CodePolicyError {
				t.Errorf("a malformed reason must fail closed, got %+v", d)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := map[string]struct{ source, want string }{
		"neither rule set": {"package n\n\nallow := true\n", "p: the module defines none of revoke, quarantine and risk"},
		"syntax error":     {"package s\n\nrevoke contains r if {\n\tr := {\"msg\": \n}\n", "p:5:1: unexpected } token"},
		"unsafe variable":  {"package u\n\nrevoke contains r if {\n\tr := {\"msg\": nope}\n}\n", "p:4:"},
		"Rego v0 syntax":   {"package v0\n\nrevoke[r] { r := {\"msg\": \"x\"} }\n", "p:3:"},
		"complete rule":    {"package c\n\nrevoke := {\"msg\": \"x\"}\n", "p:3:1: revoke must be a set: write"},
		"unknown function": {"package f\n\nrevoke contains {\"msg\": x} if x := nope.fn(1)\n", "p:3:"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			_, err := e.Upsert(context.Background(), Policy{Name: "p", Source: tt.source})
			var cerr *CompileError
			if !errors.As(err, &cerr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Upsert() = %v, want a CompileError containing %q", err, tt.want)
			}
		})
	}
}

func TestLastGoodVersionStays(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "country", Source: byCountry})
	revision := e.Revision()
	if _, err := e.Upsert(context.Background(), Policy{Name: "country", Source: "package broken\n\nrevoke contains"}); err == nil {
		t.Fatal("a broken policy compiled")
	}
	if e.Revision() != revision || e.Loaded()["country"] != Revision(byCountry) {
		t.Fatal("a failed compile replaced the last good version")
	}
	d, err := e.Decide(context.Background(), testInput(finding("geolocation", "KP")))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionRevoke || d.Revision != revision {
		t.Errorf("the last good version did not decide: %+v", d)
	}
	e.Remove("country")
	if len(e.Loaded()) != 0 || e.Revision() == revision {
		t.Error("Remove left the policy in place")
	}
}

func TestConcurrentDecisionsAndUpdates(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "country", Source: byCountry})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				d, err := e.Decide(context.Background(), testInput(finding("geolocation", "KP")))
				if err != nil || d.Action != accessv1alpha1.ActionRevoke {
					t.Errorf("worker %d: %v %v %+v", i, d.Action, err, d.Reasons)
					return
				}
			}
		}()
	}
	for i := range 20 {
		src := byCountry + fmt.Sprintf("\n# version %d\n", i)
		mustUpsert(t, e, Policy{Name: "country", Source: src})
		mustUpsert(t, e, Policy{Name: fmt.Sprintf("extra-%d", i%3), Source: byCountry})
	}
	wg.Wait()
}

func TestIncompleteInput(t *testing.T) {
	e := newTestEngine(t, Options{})
	in := testInput()
	in.System = nil
	if _, err := e.Decide(context.Background(), in); !errors.Is(err, ErrIncompleteInput) {
		t.Errorf("Decide() = %v, want ErrIncompleteInput", err)
	}
}

func TestReferenceData(t *testing.T) {
	e := newTestEngine(t, Options{Data: map[string]any{"blocked": []string{"NL"}}})
	mustUpsert(t, e, Policy{Name: "data", Source: "package d\n\nquarantine contains {\"msg\": \"blocked\"} if {\n\tsome f in input.findings\n\tf.spec.evidence.country in data.portcullis.blocked\n}\n"})
	d, err := e.Decide(context.Background(), testInput(finding("geolocation", "NL")))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionQuarantine {
		t.Errorf("reference data was not read: %+v", d)
	}
}

func TestInputSchemaCatchesMistakes(t *testing.T) {
	tests := map[string]struct{ body, want string }{
		"misspelt field":     {`input.contractor.spec.claimedLocaton.country == "US"`, "p:3:37: undefined ref: input.contractor.spec.claimedLocaton.country"},
		"misspelt top level": {`input.nowish`, "p:3:37: undefined ref: input.nowish"},
		"wrong type":         {`input.contractor.spec.claimedLocation.country == 5`, "p:3:37: match error"},
		"misspelt in a loop": {`{ some f in input.findings; f.spec.evidence.asnn == 5 }`, "undefined ref: f.spec.evidence.asnn"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			src := "package x\n\nquarantine contains {\"msg\": \"m\"} if " + tt.body + "\n"
			_, err := e.Upsert(context.Background(), Policy{Name: "p", Source: src})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Upsert() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestFailingEntryFollowsTheFailurePolicy(t *testing.T) {
	broken := errors.New("1:1: rego_parse_error")
	for _, tt := range []struct {
		name    string
		failure accessv1alpha1.FailurePolicy
		want    accessv1alpha1.DecisionAction
	}{
		{"quarantine", "", accessv1alpha1.ActionQuarantine},
		{"ignore", accessv1alpha1.FailureIgnore, accessv1alpha1.ActionAllow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			e.Fail(Policy{Name: "never-compiled", FailurePolicy: tt.failure}, broken)
			if _, ok := e.Loaded()["never-compiled"]; ok {
				t.Error("a failing entry is reported as loaded")
			}
			d, err := e.Decide(context.Background(), testInput())
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want {
				t.Fatalf("action %s, want %s: %+v", d.Action, tt.want, d)
			}
			if tt.want == accessv1alpha1.ActionQuarantine && (len(d.Reasons) != 1 || d.Reasons[0].Code != CodePolicyError) {
				t.Errorf("reasons %+v, want one %s", d.Reasons, CodePolicyError)
			}
		})
	}
}

func TestFailKeepsAGoodVersionAndUpsertReplacesAFailingOne(t *testing.T) {
	e := newTestEngine(t, Options{})
	e.Fail(Policy{Name: "country"}, errors.New("broken"))
	mustUpsert(t, e, Policy{Name: "country", Source: byCountry})
	good := e.Loaded()["country"]
	if good == "" {
		t.Fatal("Upsert did not replace the failing entry")
	}
	e.Fail(Policy{Name: "country"}, errors.New("broken again"))
	if e.Loaded()["country"] != good {
		t.Fatal("Fail replaced a good version")
	}
	d, err := e.Decide(context.Background(), testInput())
	if err != nil || d.Action != accessv1alpha1.ActionAllow {
		t.Fatalf("the good version no longer decides: %+v, %v", d, err)
	}
}

// Policies never see kubectl's copy of the applied object: the manager's
// cache drops it, and a decision must be the same whether the object came
// from the cache or from the API server.
func TestInputLeavesOutLastApplied(t *testing.T) {
	e := newTestEngine(t, Options{})
	in := typicalInput()
	in.Grant.Annotations = map[string]string{lastApplied: `{"kind":"AccessGrant"}`, "team": "payments"}
	in.Contractor.Annotations = map[string]string{lastApplied: `{"kind":"Contractor"}`}
	doc, err := e.InputDocument(in)
	if err != nil {
		t.Fatal(err)
	}
	input := doc.(map[string]any)
	grantMeta := input["grant"].(map[string]any)["metadata"].(map[string]any)
	if got := grantMeta["annotations"]; !reflect.DeepEqual(got, map[string]any{"team": "payments"}) {
		t.Errorf("grant annotations = %v, want only team", got)
	}
	if got, ok := input["contractor"].(map[string]any)["metadata"].(map[string]any)["annotations"]; ok {
		t.Errorf("contractor annotations = %v, want none, as for a contractor without annotations", got)
	}
}
