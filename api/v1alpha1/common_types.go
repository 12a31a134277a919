package v1alpha1

// CountryCode is an ISO 3166-1 alpha-2 country code in upper case, e.g. "US".
// +kubebuilder:validation:Pattern=`^[A-Z]{2}$`
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=2
type CountryCode string

// Severity ranks how much a finding or a reason weighs.
// +kubebuilder:validation:Enum=Info;Low;Medium;High;Critical
type Severity string

// The severities, from least to most severe.
const (
	SeverityInfo     Severity = "Info"
	SeverityLow      Severity = "Low"
	SeverityMedium   Severity = "Medium"
	SeverityHigh     Severity = "High"
	SeverityCritical Severity = "Critical"
)

// SystemType names the kind of a connected system and so the connector that
// enforces grants in it.
// +kubebuilder:validation:Enum=kubernetes;scim;ldap;postgres;webhook;okta;entra;google
type SystemType string

// The connected system types.
const (
	SystemTypeKubernetes SystemType = "kubernetes"
	SystemTypeSCIM       SystemType = "scim"
	SystemTypeLDAP       SystemType = "ldap"
	SystemTypePostgres   SystemType = "postgres"
	SystemTypeWebhook    SystemType = "webhook"
	SystemTypeOkta       SystemType = "okta"
	SystemTypeEntra      SystemType = "entra"
	SystemTypeGoogle     SystemType = "google"
)

// AccountsIgnoreCase reports whether the system type's account ids are
// the same account whatever their case: Okta logins, Entra user principal
// names and Google email addresses are. A sign-in that names such an
// account in another case than a Contractor's spec.accounts is that
// contractor's.
func (t SystemType) AccountsIgnoreCase() bool {
	return t == SystemTypeOkta || t == SystemTypeEntra || t == SystemTypeGoogle
}

// DecisionAction is the outcome of evaluating the policies for one grant.
// Revoke is more severe than Quarantine, which is more severe than Allow.
// +kubebuilder:validation:Enum=Allow;Quarantine;Revoke
type DecisionAction string

// The decision actions, from least to most severe.
const (
	ActionAllow      DecisionAction = "Allow"
	ActionQuarantine DecisionAction = "Quarantine"
	ActionRevoke     DecisionAction = "Revoke"
)

// Rank orders actions by severity, from the empty action (0) to Revoke (3).
func (a DecisionAction) Rank() int {
	switch a {
	case ActionAllow:
		return 1
	case ActionQuarantine:
		return 2
	case ActionRevoke:
		return 3
	}
	return 0
}

// ContractorReference names a Contractor in the namespace of the referring object.
type ContractorReference struct {
	// name is the name of the Contractor, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SystemReference names a cluster-scoped ConnectedSystem.
type SystemReference struct {
	// name is the name of the ConnectedSystem.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// GrantReference names an AccessGrant in the namespace of the referring object.
type GrantReference struct {
	// name is the name of the AccessGrant, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretReference names a Secret in a given namespace. Cluster-scoped objects
// use it, so the namespace is always explicit.
type SecretReference struct {
	// namespace is the namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name is the name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ConfigMapKeyReference names one key of a ConfigMap in a given namespace.
type ConfigMapKeyReference struct {
	// namespace is the namespace of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name is the name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key of the ConfigMap's data that holds the value.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}
