package policy

import (
	"slices"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// exceptionCovers reports whether an exception names this grant: its
// contractorRef and grantRef, where set, must both match.
func exceptionCovers(e *accessv1alpha1.PolicyException, in *Input) bool {
	if e.Namespace != in.Grant.Namespace {
		return false
	}
	if ref := e.Spec.ContractorRef; ref != nil && ref.Name != in.Contractor.Name {
		return false
	}
	if ref := e.Spec.GrantRef; ref != nil && ref.Name != in.Grant.Name {
		return false
	}
	return e.Spec.ContractorRef != nil || e.Spec.GrantRef != nil
}

// matchingExceptions returns the active exceptions that cover the grant;
// one that lasts longer than maxLifetime applies nowhere. PolicyException.ActiveAt
// decides both, as it does for the PolicyException reconciler's Ready.
func matchingExceptions(in *Input, maxLifetime time.Duration) []accessv1alpha1.PolicyException {
	var out []accessv1alpha1.PolicyException
	for i := range in.Exceptions {
		e := &in.Exceptions[i]
		if e.ActiveAt(in.Now, maxLifetime) && exceptionCovers(e, in) {
			out = append(out, *e)
		}
	}
	return out
}

// exempting returns the name of the first exception that exempts reason, or "".
func exempting(exceptions []accessv1alpha1.PolicyException, r Reason) string {
	for i := range exceptions {
		spec := exceptions[i].Spec
		if spec.Policy != r.Policy {
			continue
		}
		if len(spec.Rules) > 0 && !slices.Contains(spec.Rules, r.Rule) {
			continue
		}
		if len(spec.Codes) > 0 && !slices.Contains(spec.Codes, r.Code) {
			continue
		}
		if spec.Evidence != nil && !evidenceCovers(spec.Evidence, r.Evidence) {
			continue
		}
		return exceptions[i].Name
	}
	return ""
}

// activeFindings returns the findings that have not expired at now. It
// filters on Finding.ExpiredAt, the predicate the controllers use too, and
// keeps a finding that is being deleted until it is gone.
func activeFindings(findings []accessv1alpha1.Finding, now time.Time) []accessv1alpha1.Finding {
	out := make([]accessv1alpha1.Finding, 0, len(findings))
	for i := range findings {
		if !findings[i].ExpiredAt(now) {
			out = append(out, findings[i])
		}
	}
	return out
}

// evidenceCovers reports whether an exception limited to evidence covers a
// reason's: every list the exception sets must hold the reason's value,
// and a reason shared with contractors must be shared only with listed
// ones. A reason that names none of the evidence asked for is not covered.
func evidenceCovers(want *accessv1alpha1.ExceptionEvidence, got *ReasonEvidence) bool {
	if got == nil {
		return false
	}
	in := func(list []string, v string) bool { return len(list) == 0 || (v != "" && slices.Contains(list, v)) }
	countries := make([]string, 0, len(want.Countries))
	for _, c := range want.Countries {
		countries = append(countries, string(c))
	}
	if !in(want.IPs, got.IP) || !in(want.DeviceIDs, got.DeviceID) || !in(countries, got.Country) {
		return false
	}
	if len(want.RelatedContractors) > 0 {
		if len(got.RelatedContractors) == 0 {
			return false
		}
		for _, name := range got.RelatedContractors {
			if !slices.Contains(want.RelatedContractors, name) {
				return false
			}
		}
	}
	return true
}
