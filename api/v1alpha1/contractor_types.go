package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ContractorSpec is who a contractor claims to be, where they claim to work,
// how that claim was verified, and which accounts they hold.
type ContractorSpec struct {
	// displayName is the contractor's name as shown to people.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName"`

	// email is the contractor's work e-mail address.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=320
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email"`

	// vendor is the staffing agency or company that supplies the contractor,
	// if any.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Vendor string `json:"vendor,omitempty"`

	// claimedLocation is where the contractor says they live and work.
	// Sign-ins from elsewhere, outside a travel notice, are findings.
	// +required
	ClaimedLocation ClaimedLocation `json:"claimedLocation"`

	// verificationChecks are the identity checks run on the contractor
	// (document, liveness, background check...), with their results.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	VerificationChecks []VerificationCheck `json:"verificationChecks,omitempty"`

	// travelNotices are the announced trips during which sign-ins from the
	// given country are expected.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	TravelNotices []TravelNotice `json:"travelNotices,omitempty"`

	// equipmentShippingCountry is the country the company laptop was shipped
	// to, as an ISO 3166-1 alpha-2 code. A mismatch with the claimed country
	// is a known laptop-farm sign.
	// +optional
	EquipmentShippingCountry CountryCode `json:"equipmentShippingCountry,omitempty"`

	// payoutCountry is the country of the bank account that the contractor
	// is paid into, as an ISO 3166-1 alpha-2 code.
	// +optional
	PayoutCountry CountryCode `json:"payoutCountry,omitempty"`

	// accounts are the contractor's accounts in connected systems, one per
	// system. The connectors act on these accounts and the sign-in ingester
	// maps events that name an account back to the contractor.
	// +optional
	// +listType=map
	// +listMapKey=system
	// +kubebuilder:validation:MaxItems=64
	Accounts []Account `json:"accounts,omitempty"`
}

// ClaimedLocation is where a contractor says they live and work.
type ClaimedLocation struct {
	// country is the claimed country as an ISO 3166-1 alpha-2 code in upper
	// case, e.g. "US".
	// +required
	Country CountryCode `json:"country"`

	// region is the claimed state, province or region, free text.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Region string `json:"region,omitempty"`

	// timezone is the claimed IANA time zone, e.g. "America/Chicago". The
	// off-hours correlator compares activity with working hours there.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`
	Timezone string `json:"timezone,omitempty"`
}

// VerificationType is the kind of an identity check.
// +kubebuilder:validation:Enum=Document;Liveness;BackgroundCheck;VideoInterview;AddressProof;Reference;Other
type VerificationType string

// VerificationResult is the outcome of an identity check.
// +kubebuilder:validation:Enum=Pending;Passed;Failed;Revoked
type VerificationResult string

// The verification results.
const (
	VerificationPending VerificationResult = "Pending"
	VerificationPassed  VerificationResult = "Passed"
	VerificationFailed  VerificationResult = "Failed"
	VerificationRevoked VerificationResult = "Revoked"
)

// VerificationCheck is one identity check and its result.
// +kubebuilder:validation:XValidation:rule="self.result == 'Pending' || has(self.completedAt)",message="completedAt is required once a check has a result (Passed, Failed or Revoked)"
// +kubebuilder:validation:XValidation:rule="!has(self.completedAt) || !has(self.expiresAt) || self.expiresAt > self.completedAt",message="expiresAt must be later than completedAt"
type VerificationCheck struct {
	// type is the kind of check: Document, Liveness, BackgroundCheck,
	// VideoInterview, AddressProof, Reference or Other.
	// +required
	Type VerificationType `json:"type"`

	// result is the outcome: Pending, Passed, Failed or Revoked (passed once,
	// withdrawn since).
	// +required
	Result VerificationResult `json:"result"`

	// provider is the service or team that ran the check.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Provider string `json:"provider,omitempty"`

	// required marks a check that must pass for the contractor to keep access.
	// Policies treat a required check that stays Pending past its grace period,
	// or that expired, as a reason to quarantine. Defaults to false.
	// +optional
	Required bool `json:"required,omitempty"`

	// documentCountry is the issuing country of the identity document, as an
	// ISO 3166-1 alpha-2 code (Document checks).
	// +optional
	DocumentCountry CountryCode `json:"documentCountry,omitempty"`

	// reference is the provider's identifier of the check, for audit.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reference string `json:"reference,omitempty"`

	// requestedAt is when the check was started.
	// +optional
	RequestedAt *metav1.Time `json:"requestedAt,omitempty"`

	// completedAt is when the check reached its result. Required unless the
	// result is Pending.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// expiresAt is when the result stops counting and the check must be run
	// again. Omit for a result that does not expire.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// TravelNotice announces a trip: sign-ins from country between from and until
// are expected and not held against the contractor.
// +kubebuilder:validation:XValidation:rule="self.until > self.from",message="until must be later than from"
type TravelNotice struct {
	// country is the destination, as an ISO 3166-1 alpha-2 code.
	// +required
	Country CountryCode `json:"country"`

	// from is the start of the trip.
	// +required
	From metav1.Time `json:"from"`

	// until is the end of the trip; it must be later than from.
	// +required
	Until metav1.Time `json:"until"`

	// note says why the contractor travels, for the people who review it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Note string `json:"note,omitempty"`
}

// Account is the contractor's identity in one connected system.
type Account struct {
	// system is the name of the ConnectedSystem that holds the account.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	System string `json:"system"`

	// id identifies the account in that system: a Kubernetes user name, a
	// SCIM userName or id, an LDAP DN or uid, a PostgreSQL role name, or a
	// webhook receiver's user id.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	ID string `json:"id"`
}

// ContractorStatus is what the controller and the ingester observed about a
// contractor.
type ContractorStatus struct {
	// conditions hold the summary Ready condition.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// activeFindings is the number of the contractor's Findings that have not
	// expired.
	// +optional
	ActiveFindings int32 `json:"activeFindings,omitempty"`

	// worstDecision is the most severe current decision among the
	// contractor's grants: Allow, Quarantine or Revoke. Empty until a grant
	// has been decided.
	// +optional
	WorstDecision DecisionAction `json:"worstDecision,omitempty"`

	// risk is the highest risk among the contractor's grants (the policies
	// that apply to each grant weigh it), with each contribution.
	// +optional
	Risk *Risk `json:"risk,omitempty"`

	// grants counts the contractor's AccessGrants by enforcement state.
	// +optional
	Grants GrantCounts `json:"grants,omitzero"`

	// signIns summarises the contractor's recent sign-ins, bounded in size.
	// +optional
	SignIns *SignInSummary `json:"signIns,omitempty"`

	// announced is the contractor's access as last announced to Shared
	// Signals receivers, when the manager transmits signals.
	// +optional
	Announced *AnnouncedAccess `json:"announced,omitempty"`
}

// AnnouncedState is the access a contractor was announced to have.
// +kubebuilder:validation:Enum=Enabled;Disabled
type AnnouncedState string

// The announced states.
const (
	// AnnouncedEnabled: no grant of the contractor is quarantined or revoked.
	AnnouncedEnabled AnnouncedState = "Enabled"
	// AnnouncedDisabled: at least one grant is quarantined or revoked;
	// receivers were sent session-revoked and account-disabled.
	AnnouncedDisabled AnnouncedState = "Disabled"
)

// AnnouncedAccess is what the manager last told Shared Signals receivers
// about a contractor.
type AnnouncedAccess struct {
	// state is Enabled or Disabled.
	// +required
	State AnnouncedState `json:"state"`

	// transitions counts the transitions announced so far; the next one is
	// identified as <contractor uid>/<transitions+1>, which is what makes a
	// retried announcement the same one for receivers.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Transitions int64 `json:"transitions,omitempty"`

	// time is when the state was announced (or, for the first Enabled,
	// recorded without an announcement).
	// +optional
	Time *metav1.Time `json:"time,omitempty"`

	// pending is true while the transition is not yet queued for every
	// receiver: it was recorded before it was announced, and is announced
	// again, under the same id, until that succeeds, even if the access
	// changed back meanwhile.
	// +optional
	Pending bool `json:"pending,omitempty"`
}

// GrantCounts counts grants by enforcement state.
type GrantCounts struct {
	// total is the number of the contractor's grants.
	// +optional
	Total int32 `json:"total,omitempty"`
	// active is the number of grants whose entitlement is in place.
	// +optional
	Active int32 `json:"active,omitempty"`
	// quarantined is the number of grants with reduced access.
	// +optional
	Quarantined int32 `json:"quarantined,omitempty"`
	// revoked is the number of revoked grants.
	// +optional
	Revoked int32 `json:"revoked,omitempty"`
	// expired is the number of grants past their expiry.
	// +optional
	Expired int32 `json:"expired,omitempty"`
}

// SignInSummary is a bounded summary of a contractor's recent sign-ins.
type SignInSummary struct {
	// total is the number of sign-ins seen for the contractor.
	// +optional
	Total int64 `json:"total,omitempty"`

	// lastSignInAt is the time of the latest sign-in.
	// +optional
	LastSignInAt *metav1.Time `json:"lastSignInAt,omitempty"`

	// countries are the observed countries with their sign-in counts.
	// +optional
	// +listType=map
	// +listMapKey=country
	// +kubebuilder:validation:MaxItems=64
	Countries []CountryCount `json:"countries,omitempty"`

	// recent are the latest sign-ins, newest first, at most 50.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Recent []SignInRecord `json:"recent,omitempty"`
}

// CountryCount is a number of sign-ins from one country.
type CountryCount struct {
	// country is the observed country as an ISO 3166-1 alpha-2 code.
	// +required
	Country CountryCode `json:"country"`
	// count is the number of sign-ins from it.
	// +required
	// +kubebuilder:validation:Minimum=0
	Count int64 `json:"count"`
}

// SignInRecord is one enriched sign-in.
type SignInRecord struct {
	// time is when the sign-in happened.
	// +required
	Time metav1.Time `json:"time"`
	// ip is the source address.
	// +required
	// +kubebuilder:validation:MaxLength=45
	IP string `json:"ip"`
	// country is the country of the address, if known.
	// +optional
	Country CountryCode `json:"country,omitempty"`
	// asn is the autonomous system number of the address, if known.
	// +optional
	ASN int64 `json:"asn,omitempty"`
	// deviceID identifies the device, if the event named one.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DeviceID string `json:"deviceID,omitempty"`
	// timezone is the IANA time zone the client reported, if any: a device
	// set to a zone far from the claimed one is worth a look.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Timezone string `json:"timezone,omitempty"`
	// locale is the locale the client reported, if any (BCP 47, e.g. en-US).
	// +optional
	// +kubebuilder:validation:MaxLength=35
	Locale string `json:"locale,omitempty"`
}

// Contractor is a remote worker's claimed identity: who they say they are,
// where they say they work, how that was verified, and their accounts.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ctr,categories=portcullis
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Country",type=string,JSONPath=`.spec.claimedLocation.country`
// +kubebuilder:printcolumn:name="Vendor",type=string,JSONPath=`.spec.vendor`,priority=1
// +kubebuilder:printcolumn:name="Findings",type=integer,JSONPath=`.status.activeFindings`
// +kubebuilder:printcolumn:name="Risk",type=string,JSONPath=`.status.risk.level`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.status.worstDecision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Contractor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the contractor's claimed identity.
	// +required
	Spec ContractorSpec `json:"spec"`

	// status is what Portcullis observed about the contractor.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status ContractorStatus `json:"status,omitzero"`
}

// ContractorList is a list of Contractors.
//
// +kubebuilder:object:root=true
type ContractorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Contractor `json:"items"`
}
