package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Risk is a contractor's risk as one policy's risk rule set weighs it: the
// contributions no exception sets aside, the heaviest of each code once.
type Risk struct {
	Level  accessv1alpha1.RiskLevel `json:"level"`
	Score  float64                  `json:"score"`
	Policy string                   `json:"policy,omitempty"`
	// Contributions are the counted ones, heaviest first.
	Contributions []Reason `json:"contributions,omitempty"`
}

// RiskLevels are the scores where the Medium, High and Critical bands
// start, from the reference data's risk.levels; any score above zero below
// Medium is Low.
type RiskLevels struct {
	Medium, High, Critical float64
}

// DefaultRiskLevels apply when the reference data sets no risk.levels.
var DefaultRiskLevels = RiskLevels{Medium: 3, High: 6, Critical: 10}

// riskLevels reads risk.levels from normalised data.
func riskLevels(data map[string]any) (RiskLevels, error) {
	section, _ := data["risk"].(map[string]any)
	raw, ok := section["levels"]
	if !ok {
		return DefaultRiskLevels, nil
	}
	levels, _ := raw.(map[string]any)
	out := DefaultRiskLevels
	for key, into := range map[string]*float64{"medium": &out.Medium, "high": &out.High, "critical": &out.Critical} {
		v, present := levels[key]
		if !present {
			continue
		}
		n, isNumber := v.(json.Number)
		f, err := n.Float64()
		if !isNumber || err != nil || f <= 0 {
			return out, fmt.Errorf("reference data: risk.levels.%s is %v: it must be a number above 0", key, v)
		}
		*into = f
	}
	if levels == nil || out.Medium > out.High || out.High > out.Critical {
		return out, fmt.Errorf("reference data: risk.levels is %v: it must be an object of medium <= high <= critical", raw)
	}
	return out, nil
}

// Level is the band of a score.
func (l RiskLevels) Level(score float64) accessv1alpha1.RiskLevel {
	switch {
	case score >= l.Critical:
		return accessv1alpha1.RiskCritical
	case score >= l.High:
		return accessv1alpha1.RiskHigh
	case score >= l.Medium:
		return accessv1alpha1.RiskMedium
	case score > 0:
		return accessv1alpha1.RiskLow
	}
	return accessv1alpha1.RiskNone
}

// assess combines each policy's risk contributions that the exceptions
// leave and returns the highest-scoring policy's risk; None without any.
// A contribution is set aside by an exception that would set aside a
// quarantine or revoke reason with its code and evidence.
func assess(byPolicy map[string][]Reason, exceptions []accessv1alpha1.PolicyException, levels RiskLevels) *Risk {
	best := &Risk{Level: accessv1alpha1.RiskNone}
	for _, name := range sortedKeys(byPolicy) {
		heaviest := map[string]Reason{}
		for _, c := range byPolicy[name] {
			if exemptContribution(exceptions, c) {
				continue
			}
			if h, ok := heaviest[c.Code]; !ok || c.Weight > h.Weight || c.Weight == h.Weight && c.Message < h.Message {
				heaviest[c.Code] = c
			}
		}
		r := Risk{Policy: name}
		for _, c := range heaviest {
			r.Score += c.Weight
			r.Contributions = append(r.Contributions, c)
		}
		if r.Score > best.Score {
			sort.Slice(r.Contributions, func(i, j int) bool {
				a, b := r.Contributions[i], r.Contributions[j]
				if a.Weight != b.Weight {
					return a.Weight > b.Weight
				}
				return a.Code < b.Code
			})
			r.Score = math.Round(r.Score*100) / 100
			r.Level = levels.Level(r.Score)
			best = &r
		}
	}
	return best
}

func exemptContribution(exceptions []accessv1alpha1.PolicyException, c Reason) bool {
	for i := range exceptions {
		if contributionMiss(&exceptions[i].Spec, c) == missNone {
			return true
		}
	}
	return false
}

// contributionMiss says whether an exception that applies to a grant sets
// a risk contribution aside: when it would set aside a quarantine or a
// revoke reason with the contribution's code and evidence. It returns the
// first rule's miss otherwise.
func contributionMiss(spec *accessv1alpha1.PolicyExceptionSpec, c Reason) (first miss) {
	for i, rule := range []string{RuleQuarantine, RuleRevoke} {
		c.Rule = rule
		m := exemptionMiss(spec, c)
		if m == missNone {
			return missNone
		}
		if i == 0 {
			first = m
		}
	}
	return first
}

// ContributionMismatch says why an exception that applies to a grant does
// not set a risk contribution aside, or returns "" when it does
// (contributionMiss).
func ContributionMismatch(spec *accessv1alpha1.PolicyExceptionSpec, c Reason) string {
	if contributionMiss(spec, c) == missNone {
		return ""
	}
	c.Rule = RuleQuarantine
	return ExemptionMismatch(spec, c)
}

func sortedKeys(m map[string][]Reason) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
