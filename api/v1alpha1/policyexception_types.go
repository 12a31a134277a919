package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyExceptionSpec says whom an exception covers, which reasons it
// exempts, why, who approved it, and until when.
// +kubebuilder:validation:XValidation:rule="has(self.contractorRef) || has(self.grantRef)",message="set contractorRef or grantRef: an exception must name the contractor or the grant it exempts"
type PolicyExceptionSpec struct {
	// contractorRef limits the exception to the grants of this Contractor,
	// in this namespace.
	// +optional
	ContractorRef *ContractorReference `json:"contractorRef,omitempty"`

	// grantRef limits the exception to this AccessGrant, in this namespace.
	// +optional
	GrantRef *GrantReference `json:"grantRef,omitempty"`

	// policy is the name of the AccessPolicy whose reasons are exempt.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy"`

	// rules limits the exception to these rule sets of the policy (revoke,
	// quarantine). Omit to exempt every rule of the policy.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=64
	Rules []string `json:"rules,omitempty"`

	// codes limits the exception to reasons with these codes. Omit to exempt
	// every code.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	Codes []string `json:"codes,omitempty"`

	// evidence limits the exception to reasons that rest on this evidence:
	// a household's shared address, say, without also hiding a device shared
	// with an unrelated contractor. Each list that is set must hold the
	// reason's value; a reason that names no such value is not exempted.
	// Omit to exempt whatever the evidence.
	// +optional
	Evidence *ExceptionEvidence `json:"evidence,omitempty"`

	// reason says why the exception is needed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// approver is who approved the exception.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Approver string `json:"approver"`

	// expiresAt is when the exception ends; it is mandatory, so no exception
	// lasts for ever. After it the exempted reasons apply again. It may be
	// at most the policy data's exceptions.max_days (90 by default) after
	// the exception's creation: the admission policy refuses a longer one,
	// and the controller applies a longer one nowhere.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// ExceptionEvidence is the evidence an exception is limited to.
type ExceptionEvidence struct {
	// ips are source addresses.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=45
	IPs []string `json:"ips,omitempty"`
	// deviceIDs are device identifiers.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	DeviceIDs []string `json:"deviceIDs,omitempty"`
	// countries are ISO 3166-1 alpha-2 codes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	Countries []CountryCode `json:"countries,omitempty"`
	// relatedContractors are the other contractors a shared address or
	// device may be shared with: a reason that names anyone else is not
	// exempted.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	RelatedContractors []string `json:"relatedContractors,omitempty"`
}

// PolicyExceptionStatus is the controller's view of an exception.
type PolicyExceptionStatus struct {
	// conditions hold the summary Ready condition: True while the exception
	// is in force, False with reason Expired after its expiry.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// PolicyException exempts a contractor or a grant from some or all reasons
// of one policy, for a limited time, with a recorded reason and approver.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pex,categories=portcullis
// +kubebuilder:printcolumn:name="Contractor",type=string,JSONPath=`.spec.contractorRef.name`
// +kubebuilder:printcolumn:name="Grant",type=string,JSONPath=`.spec.grantRef.name`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.policy`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PolicyException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the exception.
	// +required
	Spec PolicyExceptionSpec `json:"spec"`

	// status is the controller's view of it.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status PolicyExceptionStatus `json:"status,omitzero"`
}

// PolicyExceptionList is a list of PolicyExceptions.
//
// +kubebuilder:object:root=true
type PolicyExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PolicyException `json:"items"`
}

// Lifetime is how long the exception is meant to last: from its creation
// to its expiry. An exception not created in a cluster (read from a file
// for offline evaluation) is measured from now.
func (e *PolicyException) Lifetime(now time.Time) time.Duration {
	from := e.CreationTimestamp.Time
	if from.IsZero() {
		from = now
	}
	return e.Spec.ExpiresAt.Sub(from)
}

// ExpiredAt reports whether the exception's expiry has passed at t.
func (e *PolicyException) ExpiredAt(t time.Time) bool {
	return !t.Before(e.Spec.ExpiresAt.Time)
}

// ActiveAt reports whether the exception applies at t: before its expiry,
// and lasting no longer than maxLifetime (zero means no limit). Everything
// that applies exceptions goes through it.
func (e *PolicyException) ActiveAt(t time.Time, maxLifetime time.Duration) bool {
	return !e.ExpiredAt(t) && (maxLifetime <= 0 || e.Lifetime(t) <= maxLifetime)
}
