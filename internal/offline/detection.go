package offline

import (
	"fmt"
	"io"
	"slices"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Targets are what the detection measurement must reach: the share of
// hostile scenarios actioned (quarantined or revoked), the number of honest
// ones revoked, and the share of honest ones quarantined.
type Targets struct {
	HostileActioned   float64
	HonestRevoked     int
	HonestQuarantined float64
}

// DefaultTargets are the library's: at least 95 % of hostile histories
// actioned, no honest one revoked, at most 5 % of honest ones quarantined.
var DefaultTargets = Targets{HostileActioned: 0.95, HonestRevoked: 0, HonestQuarantined: 0.05}

// Detection is the measurement over labelled scenarios.
type Detection struct {
	Hostile, Honest int
	// Actioned, Missed, Revoked and Quarantined name the scenarios.
	Actioned, Missed     []ScenarioResult
	Revoked, Quarantined []ScenarioResult
}

// Measure counts the labelled results: a hostile scenario is actioned when
// any of its grants is quarantined or revoked; an honest one counts as
// revoked, or else quarantined, by its most severe grant.
func Measure(results []ScenarioResult) Detection {
	var d Detection
	for _, r := range results {
		switch r.Label {
		case Hostile:
			d.Hostile++
			if r.Outcome == accessv1alpha1.ActionAllow || r.Outcome == "" {
				d.Missed = append(d.Missed, r)
			} else {
				d.Actioned = append(d.Actioned, r)
			}
		case Honest:
			d.Honest++
			switch r.Outcome {
			case accessv1alpha1.ActionRevoke:
				d.Revoked = append(d.Revoked, r)
			case accessv1alpha1.ActionQuarantine:
				d.Quarantined = append(d.Quarantined, r)
			}
		}
	}
	return d
}

// Meets reports whether the measurement reaches t.
func (d Detection) Meets(t Targets) bool {
	return d.Hostile > 0 && d.Honest > 0 &&
		share(len(d.Actioned), d.Hostile) >= t.HostileActioned &&
		len(d.Revoked) <= t.HonestRevoked &&
		share(len(d.Quarantined), d.Honest) <= t.HonestQuarantined
}

// Print writes the measurement and names every scenario that went wrong.
func (d Detection) Print(w io.Writer, t Targets) {
	fmt.Fprintf(w, "detection over %d labelled scenarios (%d hostile, %d honest)\n", d.Hostile+d.Honest, d.Hostile, d.Honest)
	fmt.Fprintf(w, "  hostile actioned    %3d/%-3d %5.1f %%  (target >= %.0f %%)\n",
		len(d.Actioned), d.Hostile, 100*share(len(d.Actioned), d.Hostile), 100*t.HostileActioned)
	fmt.Fprintf(w, "  honest revoked      %3d/%-3d %5.1f %%  (target <= %d)\n",
		len(d.Revoked), d.Honest, 100*share(len(d.Revoked), d.Honest), t.HonestRevoked)
	fmt.Fprintf(w, "  honest quarantined  %3d/%-3d %5.1f %%  (target <= %.0f %%)\n",
		len(d.Quarantined), d.Honest, 100*share(len(d.Quarantined), d.Honest), 100*t.HonestQuarantined)
	for _, group := range []struct {
		what string
		list []ScenarioResult
	}{{"missed (hostile, allowed)", d.Missed}, {"honest, revoked", d.Revoked}, {"honest, quarantined", d.Quarantined}} {
		for _, r := range group.list {
			fmt.Fprintf(w, "  %s: %q (%s)%s\n", group.what, r.Name, r.Source, codesSuffix(r.Codes))
		}
	}
}

func codesSuffix(codes []string) string {
	if len(codes) == 0 {
		return ""
	}
	return fmt.Sprintf(" %v", codes)
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// outcome is the most severe action over a scenario's decisions, with the
// union of their reason codes.
func outcome(decisions []GrantDecision) (accessv1alpha1.DecisionAction, []string) {
	if len(decisions) == 0 {
		return "", nil
	}
	worst := accessv1alpha1.ActionAllow
	var codes []string
	for _, d := range decisions {
		if d.Decision.Action.Rank() > worst.Rank() {
			worst = d.Decision.Action
		}
		codes = append(codes, reasonCodes(d.Decision.Reasons)...)
	}
	slices.Sort(codes)
	return worst, slices.Compact(codes)
}
