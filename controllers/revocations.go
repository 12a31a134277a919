package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=contractors,verbs=patch

// recordRevocation writes the durable record of a revocation onto the
// contractor before it is applied: an annotation that survives the grant
// being deleted and re-created and a restore without status, and that every
// grant of the contractor for the same entitlement honours (desiredState).
// The controller only adds records; a person clears them. A revocation the
// guard holds, or a dry run, records nothing. A grant already revoked
// records nothing either: its record was written before the revocation was
// applied, so a record missing now is one a person cleared, and writing it
// back would revoke the next grant the person meant to allow. An error
// means the record could not be written, and the revocation waits for a
// retry.
func (r *AccessGrantReconciler) recordRevocation(ctx context.Context, s *grantScope) error {
	g, c, system := s.grant, s.input.Contractor, s.input.System
	if s.desired != accessv1alpha1.GrantRevoked || s.held || system.Spec.DryRun || s.recorded ||
		appliedState(g) == accessv1alpha1.GrantRevoked {
		return nil
	}
	rec := accessv1alpha1.Revocation{System: system.Name, Entitlement: g.Spec.Entitlement, Grant: g.Name,
		RevokedAt: metav1.NewTime(s.now.UTC().Truncate(1e9))}
	if s.decision != nil {
		for _, reason := range s.decision.Reasons[:min(len(s.decision.Reasons), 8)] {
			rec.Reasons = append(rec.Reasons, reason.Code)
		}
	}
	patch := client.MergeFrom(c.DeepCopy())
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	key := accessv1alpha1.RevocationKey(system.Name, g.Spec.Entitlement)
	c.Annotations[key] = rec.Encode()
	if err := r.Patch(ctx, c, patch); err != nil {
		return fmt.Errorf("recording the revocation on contractor %s: %w", c.Name, err)
	}
	s.recorded = true
	r.Recorder.Eventf(c, g, "Normal", "RevocationRecorded", "Revoke",
		"%s on ConnectedSystem %s is revoked for every grant of this contractor until a person removes the annotation %s",
		describeEntitlement(g.Spec.Entitlement), system.Name, key)
	return nil
}

// revocationRecorded reports whether the contractor carries a revocation
// record for the grant's entitlement. A record that alone would revoke a
// grant not yet revoked is confirmed by a read from the API server: a person
// who has just cleared it must not see a new grant revoked, for good, by a
// cache that has not caught up.
func (r *AccessGrantReconciler) revocationRecorded(ctx context.Context, s *grantScope) (bool, error) {
	system, e := s.input.System.Name, s.grant.Spec.Entitlement
	if !s.input.Contractor.Revoked(system, e) {
		return false, nil
	}
	if s.decision.Action == accessv1alpha1.ActionRevoke || appliedState(s.grant) == accessv1alpha1.GrantRevoked {
		return true, nil
	}
	live := &accessv1alpha1.Contractor{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.input.Contractor), live); err != nil {
		return false, fmt.Errorf("reading contractor %s: %w", s.input.Contractor.Name, err)
	}
	return live.Revoked(system, e), nil
}

func describeEntitlement(e accessv1alpha1.Entitlement) string {
	switch {
	case e.Kind != "" && e.Namespace != "":
		return fmt.Sprintf("%s %s in namespace %s", e.Kind, e.Name, e.Namespace)
	case e.Kind != "":
		return fmt.Sprintf("%s %s", e.Kind, e.Name)
	}
	return fmt.Sprintf("entitlement %q", e.Name)
}
