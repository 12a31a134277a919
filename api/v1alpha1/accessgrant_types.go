package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessGrantSpec is one entitlement that a contractor holds in one connected
// system.
// +kubebuilder:validation:XValidation:rule="self.contractorRef == oldSelf.contractorRef",message="contractorRef is immutable: create a new AccessGrant for another contractor"
// +kubebuilder:validation:XValidation:rule="self.systemRef == oldSelf.systemRef",message="systemRef is immutable: create a new AccessGrant for another connected system"
// +kubebuilder:validation:XValidation:rule="self.entitlement.name == oldSelf.entitlement.name && has(self.entitlement.__namespace__) == has(oldSelf.entitlement.__namespace__) && (!has(self.entitlement.__namespace__) || self.entitlement.__namespace__ == oldSelf.entitlement.__namespace__) && (!has(oldSelf.entitlement.kind) || (has(self.entitlement.kind) && self.entitlement.kind == oldSelf.entitlement.kind))",message="entitlement is immutable (only a kind missing from a grant written before kinds were required may be set): another entitlement is another grant, with its own approval; create a new AccessGrant"
type AccessGrantSpec struct {
	// contractorRef names the Contractor, in this namespace, who holds the grant.
	// Immutable.
	// +required
	ContractorRef ContractorReference `json:"contractorRef"`

	// systemRef names the ConnectedSystem in which the entitlement lives.
	// Immutable.
	// +required
	SystemRef SystemReference `json:"systemRef"`

	// entitlement is what the contractor is given in that system. Immutable.
	// +required
	Entitlement Entitlement `json:"entitlement"`

	// expiresAt is when the grant ends. After it the entitlement is removed
	// and the grant is Expired. Omit for a grant without an end date.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// justification says why the contractor needs this access, for reviewers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Justification string `json:"justification"`

	// approver is who approved the grant (a person's name, e-mail or ticket).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Approver string `json:"approver"`
}

// EntitlementKind tells a kubernetes connected system which kind of role an
// entitlement names.
// +kubebuilder:validation:Enum=Role;ClusterRole
type EntitlementKind string

// The entitlement kinds.
const (
	EntitlementRole        EntitlementKind = "Role"
	EntitlementClusterRole EntitlementKind = "ClusterRole"
)

// Entitlement is what a grant gives: a role, a group or a database role,
// depending on the connected system's type.
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind != 'Role' || has(self.namespace)",message="namespace is required when kind is Role: a Role exists only in a namespace"
type Entitlement struct {
	// name is the entitlement in the connected system: the Role or
	// ClusterRole (kubernetes), the group (scim: its displayName or id;
	// ldap: its DN),
	// the database role (postgres), or the entitlement id (webhook).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Name string `json:"name"`

	// kind is, for kubernetes systems, whether name is a Role or a
	// ClusterRole. Required on kubernetes systems, where the admission
	// policy refuses the grant unless its requester may bind that role
	// themselves; unset on every other type. It can be set once on a grant
	// written without it, by someone who may bind the role.
	// +optional
	Kind EntitlementKind `json:"kind,omitempty"`

	// namespace is, for kubernetes systems only, the namespace of the
	// RoleBinding. Empty means a ClusterRoleBinding (cluster-wide access),
	// which the system must allow with spec.kubernetes.allowClusterWide.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// AnnotationGuardRelease is the annotation that, set to "true" on an
// AccessGrant, lets the blast-radius guard apply the quarantine or revocation it holds for that
// grant. The controller removes the annotation once it has acted on it.
const AnnotationGuardRelease = "access.portcullis.dev/guard-release"

// GrantState is the state of a grant's entitlement in its connected system.
// +kubebuilder:validation:Enum=Pending;Active;Quarantined;Revoked;Expired
type GrantState string

// The grant states.
const (
	// GrantPending: not yet enforced.
	GrantPending GrantState = "Pending"
	// GrantActive: the entitlement is present.
	GrantActive GrantState = "Active"
	// GrantQuarantined: access is reduced; lifted when the decision returns to Allow.
	GrantQuarantined GrantState = "Quarantined"
	// GrantRevoked: the entitlement is removed for good; a new grant is needed.
	GrantRevoked GrantState = "Revoked"
	// GrantExpired: the grant's expiry has passed and the entitlement is removed.
	GrantExpired GrantState = "Expired"
)

// AccessGrantStatus is the current decision about a grant and its
// enforcement in the connected system.
type AccessGrantStatus struct {
	// conditions hold the summary Ready condition and ReferencesResolved.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// decision is the latest policy decision for the grant.
	// +optional
	Decision *Decision `json:"decision,omitempty"`

	// risk is the contractor's risk as the policies that apply to this grant
	// weigh it, with each contribution; None when nothing contributes.
	// +optional
	Risk *Risk `json:"risk,omitempty"`

	// enforcement is the state of the entitlement in the connected system.
	// +optional
	Enforcement *Enforcement `json:"enforcement,omitempty"`
}

// Decision is the outcome of evaluating the policies for one grant.
type Decision struct {
	// action is the most severe action among the non-exempt reasons of
	// enforcing policies: Allow, Quarantine or Revoke.
	// +required
	Action DecisionAction `json:"action"`

	// reasons are the non-exempt reasons of enforcing policies.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Reasons []DecisionReason `json:"reasons,omitempty"`

	// dryRunReasons are the reasons of dryrun policies: what would have been
	// done, not enforced.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	DryRunReasons []DecisionReason `json:"dryRunReasons,omitempty"`

	// policyRevision identifies the set of compiled policies that made this
	// decision. It and evaluatedAt stay while later policy revisions reach
	// the same outcome, so that a policy change rewrites only the grants
	// whose outcome it changes.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	PolicyRevision string `json:"policyRevision,omitempty"`

	// evaluatedAt is when the policies first reached this outcome.
	// +required
	EvaluatedAt metav1.Time `json:"evaluatedAt"`
}

// DecisionReason is one reason that a policy gave.
type DecisionReason struct {
	// policy is the name of the AccessPolicy.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy"`

	// rule is the rule set that produced the reason: revoke or quarantine.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Rule string `json:"rule"`

	// code is a stable identifier of the reason, e.g. SanctionedCountry.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Code string `json:"code,omitempty"`

	// message explains the reason to a person.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`

	// severity ranks the reason.
	// +optional
	Severity Severity `json:"severity,omitempty"`
}

// Enforcement is the state of a grant's entitlement in its connected system.
type Enforcement struct {
	// state is the state last applied in the connected system.
	// +required
	State GrantState `json:"state"`

	// attempts is the number of attempts since the last success.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// lastError is the error of the last failed attempt, empty after success.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// appliedAt is when state was last applied.
	// +optional
	AppliedAt *metav1.Time `json:"appliedAt,omitempty"`

	// dryRun is true when the connected system is in dry-run mode: state is
	// what would have been applied, and nothing was changed in the system.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// heldSince is when the blast-radius guard started holding this grant's
	// quarantine or revocation; empty when nothing is held. Release a held
	// grant with the annotation access.portcullis.dev/guard-release=true.
	// +optional
	HeldSince *metav1.Time `json:"heldSince,omitempty"`

	// account is the contractor's account that state was applied to. When
	// the Contractor's account on the system changes, or the Contractor is
	// gone, the entitlement is removed from this account first, so that no
	// access stays behind on an account no grant names any more.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Account string `json:"account,omitempty"`
}

// AccessGrant is one entitlement that a contractor holds in one connected
// system, kept in line with the policies' decision.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=grant;grants,categories=portcullis
// +kubebuilder:printcolumn:name="Contractor",type=string,JSONPath=`.spec.contractorRef.name`
// +kubebuilder:printcolumn:name="System",type=string,JSONPath=`.spec.systemRef.name`
// +kubebuilder:printcolumn:name="Entitlement",type=string,JSONPath=`.spec.entitlement.name`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.enforcement.state`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.status.decision.action`,priority=1
// +kubebuilder:printcolumn:name="Risk",type=string,JSONPath=`.status.risk.level`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AccessGrant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the entitlement granted.
	// +required
	Spec AccessGrantSpec `json:"spec"`

	// status is the decision and its enforcement.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status AccessGrantStatus `json:"status,omitzero"`
}

// AccessGrantList is a list of AccessGrants.
//
// +kubebuilder:object:root=true
type AccessGrantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessGrant `json:"items"`
}
