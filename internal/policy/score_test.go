package policy

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestScoredReasonsActOnlyAboveTheirThreshold(t *testing.T) {
	r := func(rule, code string, weight, threshold float64) Reason {
		return Reason{Rule: rule, Code: code, Weight: weight, Threshold: threshold}
	}
	codes := func(rs []Reason) []string {
		var out []string
		for _, x := range rs {
			out = append(out, x.Rule+"/"+x.Code)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		in   []Reason
		want []string
	}{
		{"a plain reason always acts", []Reason{{Rule: RuleQuarantine, Code: "Plain"}}, []string{"quarantine/Plain"}},
		{"contributions that reach the threshold act",
			[]Reason{r(RuleQuarantine, "A", 4, 6), r(RuleQuarantine, "B", 2, 6)}, []string{"quarantine/A", "quarantine/B"}},
		{"contributions left below it after exceptions do not",
			[]Reason{r(RuleQuarantine, "B", 2, 6), {Rule: RuleQuarantine, Code: "Plain"}}, []string{"quarantine/Plain"}},
		{"a reached revoke score replaces the quarantine of the same codes",
			[]Reason{r(RuleQuarantine, "A", 7, 6), r(RuleQuarantine, "B", 6, 6), r(RuleRevoke, "A", 7, 12), r(RuleRevoke, "B", 6, 12)},
			[]string{"revoke/A", "revoke/B"}},
		{"a revoke score left below its threshold leaves the quarantine",
			[]Reason{r(RuleQuarantine, "A", 7, 6), r(RuleRevoke, "A", 7, 12)}, []string{"quarantine/A"}},
	} {
		if got := codes(scored(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: scored = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseScore(t *testing.T) {
	for _, bad := range []map[string]any{
		{"msg": "m", "weight": 2},
		{"msg": "m", "threshold": 6},
		{"msg": "m", "weight": -1, "threshold": 6},
		{"msg": "m", "weight": 1, "threshold": 0},
		{"msg": "m", "weight": "2", "threshold": 6},
	} {
		if _, err := parseReason("p", RuleQuarantine, asValue(t, bad)); err == nil {
			t.Errorf("parseReason(%v) took a malformed score", bad)
		}
	}
}

func TestScoredCountsTheHeaviestOfEachCodeOnce(t *testing.T) {
	two := []Reason{
		{Rule: RuleQuarantine, Code: "SharedAddress", Weight: 3, Threshold: 6},
		{Rule: RuleQuarantine, Code: "SharedAddress", Weight: 3, Threshold: 6},
	}
	if got := scored(two); len(got) != 0 {
		t.Errorf("two instances of one signal counted twice: %v", got)
	}
	if got := scored(append(two, Reason{Rule: RuleQuarantine, Code: "OffHours", Weight: 3, Threshold: 6})); len(got) != 3 {
		t.Errorf("scored = %v, want all three", got)
	}
}

func TestEvidenceCovers(t *testing.T) {
	household := &accessv1alpha1.ExceptionEvidence{IPs: []string{"73.1.2.3"}, RelatedContractors: []string{"jordan"}}
	for _, tt := range []struct {
		name string
		got  *ReasonEvidence
		want bool
	}{
		{"the household address shared with the spouse", &ReasonEvidence{IP: "73.1.2.3", RelatedContractors: []string{"jordan"}}, true},
		{"the same address shared with a stranger too", &ReasonEvidence{IP: "73.1.2.3", RelatedContractors: []string{"jordan", "casey"}}, false},
		{"another address", &ReasonEvidence{IP: "73.9.9.9", RelatedContractors: []string{"jordan"}}, false},
		{"a reason without an address", &ReasonEvidence{DeviceID: "laptop", RelatedContractors: []string{"jordan"}}, false},
		{"a reason without evidence", nil, false},
	} {
		if got := evidenceCovers(household, tt.got); got != tt.want {
			t.Errorf("%s: covered = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseEvidence(t *testing.T) {
	r, err := parseReason("p", RuleQuarantine, asValue(t, map[string]any{"msg": "m", "evidence": map[string]any{
		"ip": "73.1.2.3", "relatedContractors": []any{"jordan"}, "asn": json.Number("7922")}}))
	if err != nil || r.Evidence == nil || r.Evidence.IP != "73.1.2.3" || !slices.Equal(r.Evidence.RelatedContractors, []string{"jordan"}) {
		t.Fatalf("parseReason = %+v, %v", r.Evidence, err)
	}
	for _, bad := range []any{"73.1.2.3", map[string]any{"ip": 7}, map[string]any{"relatedContractors": "jordan"}, map[string]any{"relatedContractors": []any{1}}} {
		if _, err := parseReason("p", RuleQuarantine, asValue(t, map[string]any{"msg": "m", "evidence": bad})); err == nil {
			t.Errorf("parseReason took malformed evidence %v", bad)
		}
	}
}

// asValue is x as an OPA value, as a policy's reason reaches parseReason.
func asValue(t *testing.T, x any) ast.Value {
	t.Helper()
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
