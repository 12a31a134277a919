package policy

import (
	"slices"
	"testing"
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
		if _, err := parseReason("p", RuleQuarantine, bad); err == nil {
			t.Errorf("parseReason(%v) took a malformed score", bad)
		}
	}
}
