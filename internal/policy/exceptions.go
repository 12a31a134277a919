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
// one that lasts longer than maxLifetime applies nowhere.
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
		return exceptions[i].Name
	}
	return ""
}

// activeFindings returns the findings that have not expired at now.
func activeFindings(findings []accessv1alpha1.Finding, now time.Time) []accessv1alpha1.Finding {
	out := make([]accessv1alpha1.Finding, 0, len(findings))
	for _, f := range findings {
		if f.Spec.ExpiresAt == nil || now.Before(f.Spec.ExpiresAt.Time) {
			out = append(out, f)
		}
	}
	return out
}
