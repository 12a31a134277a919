package policy

// scored keeps a policy's reasons that act. A plain reason always acts. The
// scored reasons of one rule and one threshold (Reason.Weight, Threshold)
// are the contributions to one score — the heaviest of each code counts,
// once — and act only while the contributions left after the exceptions
// still reach the threshold: exempting one takes its weight out of the
// score, not just its line out of the list. When a policy's revoke score
// is reached, its quarantine contributions of the same codes are left out:
// the revocation says it all.
func scored(reasons []Reason) []Reason {
	sums := scores(reasons)
	acts := func(r Reason) bool {
		return r.Threshold <= 0 || sums[scoreGroup{r.Rule, r.Threshold}] >= r.Threshold
	}
	revoked := map[string]bool{}
	for _, r := range reasons {
		if r.Threshold > 0 && r.Rule == RuleRevoke && acts(r) {
			revoked[r.Code] = true
		}
	}
	out := reasons[:0:0]
	for _, r := range reasons {
		if !acts(r) || (r.Threshold > 0 && r.Rule == RuleQuarantine && revoked[r.Code]) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// scoreGroup is one score: a rule's scored reasons with one threshold.
type scoreGroup struct {
	rule      string
	threshold float64
}

// scores adds up each group's heaviest contribution of each code.
func scores(reasons []Reason) map[scoreGroup]float64 {
	heaviest := map[scoreGroup]map[string]float64{}
	for _, r := range reasons {
		if r.Threshold <= 0 {
			continue
		}
		g := scoreGroup{r.Rule, r.Threshold}
		if heaviest[g] == nil {
			heaviest[g] = map[string]float64{}
		}
		heaviest[g][r.Code] = max(heaviest[g][r.Code], r.Weight)
	}
	sums := map[scoreGroup]float64{}
	for g, byCode := range heaviest {
		for _, w := range byCode {
			sums[g] += w
		}
	}
	return sums
}
