package policy

import (
	"fmt"
	"slices"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// miss is why an exception does not apply to a grant, or does not set a
// reason aside; missNone when it does. The engine decides with the cheap
// miss functions; ExceptionMismatch and ExemptionMismatch put the same
// answer into words, for explain.
type miss int

const (
	missNone miss = iota
	missExpired
	missTooLong
	missNamespace
	missContractor
	missGrant
	missNoRef
	missPolicy
	missRule
	missCode
	missEvidence
)

// exceptionMiss says whether the exception applies to the input's grant at
// in.Now: not expired, not longer than maxLifetime (zero means no limit;
// PolicyException.ActiveAt decides both, as it does for the
// PolicyException reconciler's Ready), and its namespace, contractorRef and
// grantRef, where set, naming this grant.
func exceptionMiss(e *accessv1alpha1.PolicyException, in *Input, maxLifetime time.Duration) miss {
	switch {
	case e.ExpiredAt(in.Now):
		return missExpired
	case !e.ActiveAt(in.Now, maxLifetime):
		return missTooLong
	case e.Namespace != in.Grant.Namespace:
		return missNamespace
	case e.Spec.ContractorRef != nil && e.Spec.ContractorRef.Name != in.Contractor.Name:
		return missContractor
	case e.Spec.GrantRef != nil && e.Spec.GrantRef.Name != in.Grant.Name:
		return missGrant
	case e.Spec.ContractorRef == nil && e.Spec.GrantRef == nil:
		return missNoRef
	}
	return missNone
}

// ExceptionMismatch says why the exception does not apply to the input's
// grant at in.Now, or returns "" when it does (exceptionMiss).
func ExceptionMismatch(e *accessv1alpha1.PolicyException, in *Input, maxLifetime time.Duration) string {
	switch exceptionMiss(e, in, maxLifetime) {
	case missExpired:
		return fmt.Sprintf("expired at %s", e.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	case missTooLong:
		return fmt.Sprintf("lasts %s, longer than the %s the policy data allows (exceptions.max_days): it applies nowhere",
			days(e.Lifetime(in.Now)), days(maxLifetime))
	case missNamespace:
		return fmt.Sprintf("is in namespace %s, not the grant's %s", e.Namespace, in.Grant.Namespace)
	case missContractor:
		return fmt.Sprintf("names contractor %s, not %s", e.Spec.ContractorRef.Name, in.Contractor.Name)
	case missGrant:
		return fmt.Sprintf("names grant %s, not %s", e.Spec.GrantRef.Name, in.Grant.Name)
	case missNoRef:
		return "names neither a contractor nor a grant"
	}
	return ""
}

// days renders a duration in whole days, rounded down.
func days(d time.Duration) string {
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// matchingExceptions returns the exceptions that apply to the grant: the
// slice itself when all do, as activeFindings does, else a filtered copy.
// Nothing writes to it.
func matchingExceptions(in *Input, maxLifetime time.Duration) []accessv1alpha1.PolicyException {
	var out []accessv1alpha1.PolicyException
	for i := range in.Exceptions {
		switch applies := exceptionMiss(&in.Exceptions[i], in, maxLifetime) == missNone; {
		case !applies && out == nil:
			out = slices.Clone(in.Exceptions[:i])
		case applies && out != nil:
			out = append(out, in.Exceptions[i])
		}
	}
	if out == nil {
		return in.Exceptions
	}
	return out
}

// exempting returns the name of the first exception that exempts reason, or "".
func exempting(exceptions []accessv1alpha1.PolicyException, r Reason) string {
	for i := range exceptions {
		if exemptionMiss(&exceptions[i].Spec, r) == missNone {
			return exceptions[i].Name
		}
	}
	return ""
}

// exemptionMiss says whether an exception that applies to a grant sets the
// reason aside: it names the reason's policy, and, where it is limited to
// rules, codes or evidence, the reason's.
func exemptionMiss(spec *accessv1alpha1.PolicyExceptionSpec, r Reason) miss {
	switch {
	case spec.Policy != r.Policy:
		return missPolicy
	case len(spec.Rules) > 0 && !slices.Contains(spec.Rules, r.Rule):
		return missRule
	case len(spec.Codes) > 0 && !slices.Contains(spec.Codes, r.Code):
		return missCode
	case spec.Evidence != nil && !evidenceCovers(spec.Evidence, r.Evidence):
		return missEvidence
	}
	return missNone
}

// ExemptionMismatch says why an exception that applies to a grant does not
// set the reason aside, or returns "" when it does (exemptionMiss).
func ExemptionMismatch(spec *accessv1alpha1.PolicyExceptionSpec, r Reason) string {
	switch exemptionMiss(spec, r) {
	case missPolicy:
		return fmt.Sprintf("names policy %s, not %s", spec.Policy, r.Policy)
	case missRule:
		return fmt.Sprintf("is limited to rules %v, not %s", spec.Rules, r.Rule)
	case missCode:
		return fmt.Sprintf("is limited to codes %v, not %s", spec.Codes, r.Code)
	case missEvidence:
		return "is limited to evidence that the reason's does not match"
	}
	return ""
}

// activeFindings returns the findings that have not expired at now: the
// slice itself when none has, else a filtered copy. It filters on
// Finding.ExpiredAt, the predicate the controllers use too, and keeps a
// finding that is being deleted until it is gone.
func activeFindings(findings []accessv1alpha1.Finding, now time.Time) []accessv1alpha1.Finding {
	var out []accessv1alpha1.Finding
	for i := range findings {
		switch expired := findings[i].ExpiredAt(now); {
		case expired && out == nil:
			out = slices.Clone(findings[:i])
		case !expired && out != nil:
			out = append(out, findings[i])
		}
	}
	if out == nil {
		return findings
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
