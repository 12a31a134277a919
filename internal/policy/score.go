package policy

// scored keeps a policy's reasons that act. A plain reason always acts. The
// scored reasons of one rule and one threshold (Reason.Weight, Threshold)
// are the contributions to one score, and act only while the weights of
// those left after the exceptions still reach the threshold: exempting one
// contribution takes its weight out of the score, not just its line out of
// the list. When a policy's revoke score is reached, its quarantine
// contributions of the same codes are left out: the revocation says it all.
func scored(reasons []Reason) []Reason {
	type group struct {
		rule      string
		threshold float64
	}
	sums := map[group]float64{}
	for _, r := range reasons {
		if r.Threshold > 0 {
			sums[group{r.Rule, r.Threshold}] += r.Weight
		}
	}
	acts := func(r Reason) bool {
		return r.Threshold <= 0 || sums[group{r.Rule, r.Threshold}] >= r.Threshold
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
