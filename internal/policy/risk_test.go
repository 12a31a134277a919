package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// weighing contributes one risk signal per finding, the weight by type, and
// acts on nothing: risk is shown, not enforced.
const weighing = `package weighing

weights := {"geolocation": 3, "anonymizer": 2, "off-hours": 1}

risk contains {"code": f.spec.type, "weight": weights[f.spec.type], "msg": sprintf("%s from %s", [f.spec.type, f.spec.evidence.country]), "evidence": {"country": f.spec.evidence.country}} if {
	some f in input.findings
}
`

func TestRiskIsShownWithoutActing(t *testing.T) {
	e := newTestEngine(t, Options{Data: map[string]any{"risk": map[string]any{"levels": map[string]any{"medium": 3, "high": 5, "critical": 8}}}})
	mustUpsert(t, e, Policy{Name: "weighing", Source: weighing})
	decide := func(exceptions []accessv1alpha1.PolicyException, findings ...accessv1alpha1.Finding) Decision {
		t.Helper()
		in := testInput(findings...)
		in.Exceptions = exceptions
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	if d := decide(nil); d.Risk == nil || d.Risk.Level != accessv1alpha1.RiskNone || d.Risk.Score != 0 {
		t.Errorf("no findings: risk %+v, want None", d.Risk)
	}
	d := decide(nil, finding("geolocation", "CN"), finding("geolocation", "BR"), finding("anonymizer", "NL"))
	if d.Action != accessv1alpha1.ActionAllow || len(d.Reasons) != 0 {
		t.Errorf("risk acted: %s %v", d.Action, d.Reasons)
	}
	if d.Risk.Level != accessv1alpha1.RiskHigh || d.Risk.Score != 5 || d.Risk.Policy != "weighing" {
		t.Errorf("risk %+v, want High 5 by weighing (two countries count once, the heaviest)", d.Risk)
	}
	if got := codes(d.Risk.Contributions); strings.Join(got, ",") != "geolocation,anonymizer" {
		t.Errorf("contributions %v, want the heaviest first", got)
	}

	// An exception limited to one country takes that instance out; the
	// other country still counts.
	one := accessv1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "trip"},
		Spec: accessv1alpha1.PolicyExceptionSpec{ContractorRef: &accessv1alpha1.ContractorReference{Name: "sam"}, Policy: "weighing",
			Rules: []string{RuleQuarantine}, Codes: []string{"geolocation"}, Evidence: &accessv1alpha1.ExceptionEvidence{Countries: []accessv1alpha1.CountryCode{"CN"}},
			ExpiresAt: metav1.Time{Time: testNow.Add(time.Hour)}}}
	d = decide([]accessv1alpha1.PolicyException{one}, finding("geolocation", "CN"), finding("anonymizer", "NL"))
	if d.Risk.Score != 2 || d.Risk.Level != accessv1alpha1.RiskLow {
		t.Errorf("with the trip excepted: risk %+v, want Low 2", d.Risk)
	}
	d = decide([]accessv1alpha1.PolicyException{one}, finding("geolocation", "CN"), finding("geolocation", "BR"))
	if d.Risk.Score != 3 || !strings.Contains(d.Risk.Contributions[0].Message, "BR") {
		t.Errorf("another country beside the excepted one: risk %+v, want 3 from BR", d.Risk)
	}
}

func TestRiskLevels(t *testing.T) {
	l := DefaultRiskLevels
	for score, want := range map[float64]accessv1alpha1.RiskLevel{0: "None", 1: "Low", 3: "Medium", 6: "High", 10: "Critical", 40: "Critical"} {
		if got := l.Level(score); got != want {
			t.Errorf("Level(%v) = %s, want %s", score, got, want)
		}
	}
	for _, bad := range []map[string]any{
		{"levels": "high"},
		{"levels": map[string]any{"medium": 0}},
		{"levels": map[string]any{"medium": "3"}},
		{"levels": map[string]any{"medium": 7, "high": 6}},
	} {
		if _, err := NewEngine(Options{Data: map[string]any{"risk": bad}}); err == nil || !strings.Contains(err.Error(), "risk.levels") {
			t.Errorf("levels %v: error %v, want one naming risk.levels", bad, err)
		}
	}
}

func TestMalformedRiskContributionsFailClosed(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "bad", Source: "package bad\n\nrisk contains {\"msg\": \"no code, no weight\"}\n"})
	d, err := e.Decide(context.Background(), testInput())
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionQuarantine || len(d.Reasons) != 1 || d.Reasons[0].Code != CodePolicyError ||
		!strings.Contains(d.Reasons[0].Message, "a risk contribution needs a code string and a number weight") {
		t.Errorf("decision %+v, want a PolicyError quarantine naming the malformed contribution", d)
	}
}
