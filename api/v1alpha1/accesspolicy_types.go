package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnforcementAction says what happens with a policy's reasons.
// +kubebuilder:validation:Enum=enforce;dryrun;warn
type EnforcementAction string

// The enforcement actions.
const (
	// EnforcementEnforce: reasons decide the grant's action.
	EnforcementEnforce EnforcementAction = "enforce"
	// EnforcementDryRun: reasons are recorded on the grant ("would revoke"), not enforced.
	EnforcementDryRun EnforcementAction = "dryrun"
	// EnforcementWarn: reasons raise an Event on the grant, not enforced.
	EnforcementWarn EnforcementAction = "warn"
)

// FailurePolicy says what a policy that fails at evaluation does.
// +kubebuilder:validation:Enum=Quarantine;Ignore
type FailurePolicy string

// The failure policies.
const (
	// FailureQuarantine: an evaluation error quarantines the grant (fail closed).
	FailureQuarantine FailurePolicy = "Quarantine"
	// FailureIgnore: an evaluation error is recorded and the policy is skipped.
	FailureIgnore FailurePolicy = "Ignore"
)

// AccessPolicySpec is one Rego module and how its reasons are used.
// +kubebuilder:validation:XValidation:rule="has(self.rego) != has(self.regoFrom)",message="set exactly one of rego (inline source) and regoFrom (a ConfigMap key)"
type AccessPolicySpec struct {
	// description says what the policy checks, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// rego is the policy's source: one Rego v1 module that defines the rule
	// sets revoke and/or quarantine, each a set of {msg, code, severity}
	// objects. At most 256 KiB. Exactly one of rego and regoFrom is set.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=262144
	Rego string `json:"rego,omitempty"`

	// regoFrom takes the policy's source from a ConfigMap key instead.
	// +optional
	RegoFrom *ConfigMapKeyReference `json:"regoFrom,omitempty"`

	// enforcementAction is enforce (the reasons decide), dryrun (recorded as
	// "would ...", not enforced) or warn (an Event, not enforced).
	// Defaults to enforce.
	// +optional
	// +kubebuilder:default=enforce
	EnforcementAction EnforcementAction `json:"enforcementAction,omitempty"`

	// failurePolicy is what an evaluation error or timeout does: Quarantine
	// the grant (fail closed) or Ignore the policy. Defaults to Quarantine.
	// +optional
	// +kubebuilder:default=Quarantine
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`

	// contractorSelector limits the policy to contractors whose labels match.
	// Omit to apply to every contractor.
	// +optional
	ContractorSelector *metav1.LabelSelector `json:"contractorSelector,omitempty"`

	// systemTypes limits the policy to grants in connected systems of these
	// types. Omit to apply to every type.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	SystemTypes []SystemType `json:"systemTypes,omitempty"`
}

// AccessPolicyStatus is the result of compiling the policy.
type AccessPolicyStatus struct {
	// conditions hold the summary Ready condition: True with reason Compiled,
	// or False with reason CompileError and the compiler's message.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// revision identifies the compiled source in use: the first 12 hex
	// digits of its SHA-256. It stays at the last good source while a newer
	// one fails to compile.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision,omitempty"`
}

// AccessPolicy is one Rego policy that decides whether grants are allowed,
// quarantined or revoked.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=apol,categories=portcullis
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.enforcementAction`
// +kubebuilder:printcolumn:name="Failure",type=string,JSONPath=`.spec.failurePolicy`,priority=1
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AccessPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy's source and how its reasons are used.
	// +required
	Spec AccessPolicySpec `json:"spec"`

	// status is the result of compiling it.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status AccessPolicyStatus `json:"status,omitzero"`
}

// AccessPolicyList is a list of AccessPolicies.
//
// +kubebuilder:object:root=true
type AccessPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessPolicy `json:"items"`
}
