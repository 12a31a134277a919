package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FindingType is the kind of evidence a finding holds.
// +kubebuilder:validation:Enum=geolocation;sanctioned-country;anonymizer;impossible-travel;shared-infrastructure;remote-access-tool;verification;off-hours;provider-risk;account-disabled;credential-compromise;device-noncompliant;session-revoked;security-event;custom
type FindingType string

// The finding types.
const (
	FindingGeolocation          FindingType = "geolocation"
	FindingSanctionedCountry    FindingType = "sanctioned-country"
	FindingAnonymizer           FindingType = "anonymizer"
	FindingImpossibleTravel     FindingType = "impossible-travel"
	FindingSharedInfrastructure FindingType = "shared-infrastructure"
	FindingRemoteAccessTool     FindingType = "remote-access-tool"
	FindingVerification         FindingType = "verification"
	FindingOffHours             FindingType = "off-hours"
	// FindingProviderRisk is an identity provider's own rating of a
	// sign-in as medium or high risk (Okta's risk level, Entra's
	// riskLevelDuringSignIn and riskLevelAggregated, Google's
	// is_suspicious), recorded by the ingester with the provider as the
	// source and the rating as the severity.
	FindingProviderRisk FindingType = "provider-risk"
	// FindingAccountDisabled is an identity provider's report, by an
	// OpenID Shared Signals stream, that it disabled or purged the
	// contractor's account (RISC account-disabled, account-purged). It
	// does not expire: it stays until the same stream reports the account
	// enabled again, or a person deletes it.
	FindingAccountDisabled FindingType = "account-disabled"
	// FindingCredentialCompromise is a transmitter's report that a
	// credential of the contractor is compromised (RISC
	// credential-compromise).
	FindingCredentialCompromise FindingType = "credential-compromise"
	// FindingDeviceNonCompliant is a transmitter's report that a device of
	// the contractor became not compliant (CAEP device-compliance-change);
	// a report that it is compliant again deletes it.
	FindingDeviceNonCompliant FindingType = "device-noncompliant"
	// FindingSessionRevoked is a transmitter's report that a session of
	// the contractor was revoked (CAEP session-revoked, RISC
	// sessions-revoked). Routine (a sign-out does it): recorded, not
	// weighed.
	FindingSessionRevoked FindingType = "session-revoked"
	// FindingSecurityEvent is any other Shared Signals event worth keeping
	// (a credential change, a decrease of the assurance level, changed
	// token claims, a changed or recycled identifier): recorded, not
	// weighed.
	FindingSecurityEvent FindingType = "security-event"
	FindingCustom        FindingType = "custom"
)

// AnonymizerKind is the kind of anonymizing service behind a sign-in.
// +kubebuilder:validation:Enum=vpn;tor;hosting;public-proxy;residential-proxy
type AnonymizerKind string

// The anonymizer kinds.
const (
	AnonymizerVPN              AnonymizerKind = "vpn"
	AnonymizerTor              AnonymizerKind = "tor"
	AnonymizerHosting          AnonymizerKind = "hosting"
	AnonymizerPublicProxy      AnonymizerKind = "public-proxy"
	AnonymizerResidentialProxy AnonymizerKind = "residential-proxy"
)

// FindingSpec is one piece of evidence about a contractor.
// +kubebuilder:validation:XValidation:rule="has(self.anonymizerKind) == (self.type == 'anonymizer')",message="anonymizerKind is required when type is anonymizer, and allowed only then"
// +kubebuilder:validation:XValidation:rule="!has(self.firstSeen) || !has(self.lastSeen) || self.lastSeen >= self.firstSeen",message="lastSeen must not be earlier than firstSeen"
// +kubebuilder:validation:XValidation:rule="self.contractorRef == oldSelf.contractorRef",message="contractorRef is immutable: create a new Finding for another contractor"
type FindingSpec struct {
	// contractorRef names the Contractor, in this namespace, that the
	// evidence is about. Immutable.
	// +required
	ContractorRef ContractorReference `json:"contractorRef"`

	// type is the kind of evidence: geolocation, sanctioned-country,
	// anonymizer, impossible-travel, shared-infrastructure,
	// remote-access-tool, verification, off-hours, provider-risk,
	// account-disabled, credential-compromise, device-noncompliant,
	// session-revoked, security-event (the last five from OpenID Shared
	// Signals streams) or custom.
	// +required
	Type FindingType `json:"type"`

	// anonymizerKind is, for anonymizer findings only, the service seen:
	// vpn, tor, hosting, public-proxy or residential-proxy.
	// +optional
	AnonymizerKind AnonymizerKind `json:"anonymizerKind,omitempty"`

	// severity ranks the finding: Info, Low, Medium, High or Critical.
	// +required
	Severity Severity `json:"severity"`

	// source is what reported the finding, e.g. portcullis-ingester, a SIEM
	// pipeline, an EDR, or a person's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Source string `json:"source"`

	// key tells repeats of the same finding apart from new ones, e.g. the IP
	// address or device id. Findings with one contractor, type and key are
	// one finding whose count grows.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Key string `json:"key,omitempty"`

	// summary explains the finding to a person.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Summary string `json:"summary,omitempty"`

	// evidence holds the observed facts.
	// +optional
	Evidence Evidence `json:"evidence,omitzero"`

	// firstSeen is when the evidence was first observed. Defaults to the
	// finding's creation time.
	// +optional
	FirstSeen *metav1.Time `json:"firstSeen,omitempty"`

	// lastSeen is when the evidence was last observed. Defaults to firstSeen.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`

	// count is how many times the evidence was observed. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	Count int64 `json:"count,omitempty"`

	// expiresAt is when the finding stops counting; the controller deletes
	// it then. Omit for a finding that stays until someone deletes it.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// Evidence is the observed facts behind a finding. Every field is optional.
type Evidence struct {
	// ip is the source address seen.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	IP string `json:"ip,omitempty"`

	// country is the country of that address, as an ISO 3166-1 alpha-2 code.
	// +optional
	Country CountryCode `json:"country,omitempty"`

	// city is the city of that address, if known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	City string `json:"city,omitempty"`

	// asn is the autonomous system number of that address.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	ASN int64 `json:"asn,omitempty"`

	// asOrganization is the organisation that holds the ASN.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ASOrganization string `json:"asOrganization,omitempty"`

	// deviceID identifies the device seen.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DeviceID string `json:"deviceID,omitempty"`

	// userAgent is the client's user agent.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	UserAgent string `json:"userAgent,omitempty"`

	// tool is the remote-access tool or IP-KVM seen (remote-access-tool findings).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Tool string `json:"tool,omitempty"`

	// relatedContractors are the other contractors, by name in this
	// namespace, seen on the same infrastructure (shared-infrastructure findings).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	RelatedContractors []string `json:"relatedContractors,omitempty"`

	// details are further facts as key/value pairs, at most 32.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Details map[string]string `json:"details,omitempty"`
}

// FindingStatus is the controller's view of a finding.
type FindingStatus struct {
	// conditions hold the summary Ready condition.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Finding is one piece of evidence about a contractor: where they signed in
// from, an anonymizer, impossible travel, infrastructure shared with other
// contractors, a failed verification, or anything a pipeline reports.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fnd,categories=portcullis
// +kubebuilder:printcolumn:name="Contractor",type=string,JSONPath=`.spec.contractorRef.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.anonymizerKind`,priority=1
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.spec.severity`
// +kubebuilder:printcolumn:name="Count",type=integer,JSONPath=`.spec.count`
// +kubebuilder:printcolumn:name="Last Seen",type=date,JSONPath=`.spec.lastSeen`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Finding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the evidence.
	// +required
	Spec FindingSpec `json:"spec"`

	// status is the controller's view of it.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status FindingStatus `json:"status,omitzero"`
}

// FindingList is a list of Findings.
//
// +kubebuilder:object:root=true
type FindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Finding `json:"items"`
}
