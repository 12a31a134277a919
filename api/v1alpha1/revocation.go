package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RevocationAnnotationPrefix starts the annotations that record, on a
// Contractor, each entitlement the controller revoked. A revocation lives
// in the Contractor's metadata, not in a grant's status: it survives a
// grant deleted and re-created (a GitOps re-sync), and a backup restored
// without status. Every grant of the contractor for the same system and
// entitlement is Revoked while the record is there. Only a person allowed
// to delete contractors/revocations may remove or change one (the
// admission policy contractor-revocations).
const RevocationAnnotationPrefix = "revoked.access.portcullis.dev/"

// Revocation is the value of a revocation annotation, in JSON.
//
// +kubebuilder:object:generate=false
type Revocation struct {
	// System is the ConnectedSystem the entitlement was revoked on.
	System string `json:"system"`
	// Entitlement is what was revoked.
	Entitlement Entitlement `json:"entitlement"`
	// Grant is the name of the AccessGrant that was revoked.
	Grant string `json:"grant"`
	// RevokedAt is when the revocation was decided and recorded.
	RevokedAt metav1.Time `json:"revokedAt"`
	// Reasons are the codes of the decision's reasons.
	Reasons []string `json:"reasons,omitempty"`
}

// RevocationKey is the annotation that records a revocation of e on system:
// the prefix and a digest of both, so that the key stays a valid
// annotation name whatever the names hold.
func RevocationKey(system string, e Entitlement) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{system, string(e.Kind), e.Namespace, e.Name}, "\x00")))
	return RevocationAnnotationPrefix + hex.EncodeToString(sum[:8])
}

// Revoked reports whether the contractor carries a revocation of e on
// system. A record whose value does not parse still counts: it can only
// have been written to revoke, and a person clears it deliberately.
func (c *Contractor) Revoked(system string, e Entitlement) bool {
	_, ok := c.Annotations[RevocationKey(system, e)]
	return ok
}

// Encode returns the annotation value of r.
func (r Revocation) Encode() string {
	b, _ := json.Marshal(r)
	return string(b)
}
