package v1alpha1

import "time"

// Predicates on the API types: the facts that the reconcilers, the policy
// engine and offline evaluation must agree on are written here once, so
// that a grant decided in the cluster and by `portcullis eval` sees the
// same findings. PolicyException's (Lifetime, ExpiredAt, ActiveAt) sit
// beside its type in policyexception_types.go.

// ExpiredAt reports whether the finding has stopped counting at t: it has
// an expiry and t is at or past it. A finding without spec.expiresAt never
// expires; it stays until someone deletes it.
func (f *Finding) ExpiredAt(t time.Time) bool {
	return f.Spec.ExpiresAt != nil && !t.Before(f.Spec.ExpiresAt.Time)
}

// ActiveAt reports whether the finding is live at t: not expired and not
// being deleted. The Contractor's status.activeFindings counts these. The
// policy engine filters on ExpiredAt alone, so it still weighs a finding
// that a finalizer holds while it is being deleted, until it is gone.
func (f *Finding) ActiveAt(t time.Time) bool {
	return f.DeletionTimestamp.IsZero() && !f.ExpiredAt(t)
}

// ExpiredAt reports whether the grant's entitlement has run out at t: it
// has spec.expiresAt and t is at or past it. Extending spec.expiresAt
// brings the entitlement back.
func (g *AccessGrant) ExpiredAt(t time.Time) bool {
	return g.Spec.ExpiresAt != nil && !t.Before(g.Spec.ExpiresAt.Time)
}
