package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SignalEvent is the short name of a CAEP 1.0 or RISC 1.0 event type that a
// SignalStream asks its transmitter for.
// +kubebuilder:validation:Enum=session-revoked;credential-change;assurance-level-change;device-compliance-change;token-claims-change;account-disabled;account-enabled;account-purged;credential-compromise;identifier-changed;identifier-recycled
type SignalEvent string

// The event names of spec.events.
const (
	SignalSessionRevoked         SignalEvent = "session-revoked"
	SignalCredentialChange       SignalEvent = "credential-change"
	SignalAssuranceLevelChange   SignalEvent = "assurance-level-change"
	SignalDeviceComplianceChange SignalEvent = "device-compliance-change"
	SignalTokenClaimsChange      SignalEvent = "token-claims-change"
	SignalAccountDisabled        SignalEvent = "account-disabled"
	SignalAccountEnabled         SignalEvent = "account-enabled"
	SignalAccountPurged          SignalEvent = "account-purged"
	SignalCredentialCompromise   SignalEvent = "credential-compromise"
	SignalIdentifierChanged      SignalEvent = "identifier-changed"
	SignalIdentifierRecycled     SignalEvent = "identifier-recycled"
)

// AllSignalEvents returns the events spec.events defaults to.
func AllSignalEvents() []SignalEvent {
	return []SignalEvent{SignalSessionRevoked, SignalCredentialChange, SignalAssuranceLevelChange,
		SignalDeviceComplianceChange, SignalTokenClaimsChange, SignalAccountDisabled,
		SignalAccountEnabled, SignalAccountPurged, SignalCredentialCompromise,
		SignalIdentifierChanged, SignalIdentifierRecycled,
	}
}

// SignalDeliveryMethod is how SETs travel from the transmitter.
// +kubebuilder:validation:Enum=Push;Poll
type SignalDeliveryMethod string

// Delivery methods.
const (
	// SignalDeliveryPush: the transmitter POSTs each SET to the manager
	// (RFC 8935).
	SignalDeliveryPush SignalDeliveryMethod = "Push"
	// SignalDeliveryPoll: the manager polls the transmitter (RFC 8936).
	SignalDeliveryPoll SignalDeliveryMethod = "Poll"
)

// SecretKeyReference names one key of a Secret in a given namespace.
type SecretKeyReference struct {
	// namespace is the namespace of the Secret: the controller's
	// credentials namespace, the only one it reads Secrets in.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name is the name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key of the Secret's data that holds the value. Defaults
	// to token.
	// +optional
	// +kubebuilder:default=token
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// SignalStreamTLS is how the transmitter's certificate is checked.
type SignalStreamTLS struct {
	// caBundle is a PEM bundle of the CAs to trust for the transmitter's
	// certificate (its metadata, stream management, JWKS and poll
	// endpoints), in addition to the system's. TLS verification is always on.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// SignalStreamDelivery is how the SETs travel.
// +kubebuilder:validation:XValidation:rule="self.method != 'Push' || has(self.authorizationSecretRef)",message="spec.delivery.method Push needs spec.delivery.authorizationSecretRef: the Secret key whose value the transmitter must send as the bearer token of each push"
type SignalStreamDelivery struct {
	// method is Push (the transmitter POSTs SETs to the manager's
	// receiver URL) or Poll (the manager polls the transmitter). Defaults
	// to Poll.
	// +optional
	// +kubebuilder:default=Poll
	Method SignalDeliveryMethod `json:"method,omitempty"`

	// pollIntervalSeconds is how long after one poll the next begins
	// (Poll only). Defaults to 30, at least 5, at most 3600.
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=3600
	PollIntervalSeconds int32 `json:"pollIntervalSeconds,omitempty"`

	// authorizationSecretRef names the Secret key whose value is the
	// bearer token the transmitter must send with each push (Push only,
	// and required for it); it is given to the transmitter as the
	// stream's authorization_header.
	// +optional
	AuthorizationSecretRef *SecretKeyReference `json:"authorizationSecretRef,omitempty"`
}

// SignalStreamSpec says which transmitter to receive signals from, and how.
type SignalStreamSpec struct {
	// issuer is the transmitter's issuer identifier, an https URL. Its
	// metadata is read from <scheme://host>/.well-known/ssf-configuration
	// followed by the issuer's path, and must name this issuer exactly.
	// Immutable. At most 2048 characters.
	// +required
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') && !self.contains('@') && !self.contains('?') && !self.contains('#')",message="spec.issuer must be an https:// URL without user info, query or fragment"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.issuer cannot change: the stream belongs to this transmitter; create another SignalStream for another"
	Issuer string `json:"issuer"`

	// credentialsSecretRef names the Secret key, in the controller's
	// credentials namespace, whose value is the bearer token of the
	// transmitter's stream management API and poll endpoint.
	// +required
	CredentialsSecretRef SecretKeyReference `json:"credentialsSecretRef"`

	// tls says how the transmitter's certificate is checked. Defaults to
	// the system's CAs.
	// +optional
	TLS *SignalStreamTLS `json:"tls,omitempty"`

	// delivery is how the SETs travel. Defaults to Poll every 30 seconds.
	// +optional
	// +kubebuilder:default={method: Poll}
	Delivery SignalStreamDelivery `json:"delivery,omitzero"`

	// events are the events asked for. Defaults to all eleven; at most 11.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=11
	// +kubebuilder:default={session-revoked,credential-change,assurance-level-change,device-compliance-change,token-claims-change,account-disabled,account-enabled,account-purged,credential-compromise,identifier-changed,identifier-recycled}
	Events []SignalEvent `json:"events,omitempty"`

	// accountSystems are the names of ConnectedSystems whose account ids
	// the transmitter's subjects name, besides the contractors' e-mail
	// addresses. At most 16.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	AccountSystems []string `json:"accountSystems,omitempty"`

	// audience is the "aud" the SETs must carry. Defaults to the aud the
	// transmitter gives in the stream configuration. At most 2048
	// characters.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Audience string `json:"audience,omitempty"`

	// description is sent to the transmitter as the stream's description.
	// At most 256 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// suspend pauses the stream: the transmitter is asked to pause it
	// (holding its events), nothing is polled or accepted; clearing it
	// enables the stream again. Defaults to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// SignalStreamVerification is the state of the SSF verification exchange.
type SignalStreamVerification struct {
	// requestedAt is when verification was last requested.
	// +optional
	RequestedAt *metav1.Time `json:"requestedAt,omitempty"`
	// verifiedAt is when the verification event answering the last request
	// arrived; empty while it is awaited.
	// +optional
	VerifiedAt *metav1.Time `json:"verifiedAt,omitempty"`
	// state is the random state sent with the last request, echoed by the
	// transmitter's verification event. Not a secret.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	State string `json:"state,omitempty"`
}

// SignalStreamCounts count the SETs the stream received since the manager
// started receiving on it.
type SignalStreamCounts struct {
	// received are the SETs delivered, verified or not.
	// +optional
	Received int64 `json:"received,omitempty"`
	// accepted are the SETs verified and handed on.
	// +optional
	Accepted int64 `json:"accepted,omitempty"`
	// refused are the SETs that failed verification (signature, key,
	// issuer, audience, age, shape).
	// +optional
	Refused int64 `json:"refused,omitempty"`
	// unmatched are the events whose subject names no contractor.
	// +optional
	Unmatched int64 `json:"unmatched,omitempty"`
	// ambiguous are the events whose subject names several contractors.
	// +optional
	Ambiguous int64 `json:"ambiguous,omitempty"`
}

// SignalStreamStatus is what the controller last observed of the stream.
type SignalStreamStatus struct {
	// conditions hold the summary Ready condition and the kstatus
	// Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the stream at the
	// transmitter was last configured from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// streamID is the transmitter's id of the stream.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	StreamID string `json:"streamID,omitempty"`

	// streamStatus is the stream's status as the transmitter reports it:
	// enabled, paused or disabled.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	StreamStatus string `json:"streamStatus,omitempty"`

	// streamStatusReason is the reason the transmitter gives for it.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	StreamStatusReason string `json:"streamStatusReason,omitempty"`

	// eventsDelivered are the requested events the transmitter delivers.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	EventsDelivered []string `json:"eventsDelivered,omitempty"`

	// audience is the "aud" the SETs are verified against.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Audience string `json:"audience,omitempty"`

	// endpointURL is where SETs travel: the manager's push URL, or the
	// transmitter's poll URL.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	EndpointURL string `json:"endpointURL,omitempty"`

	// verification is the state of the SSF verification exchange.
	// +optional
	Verification SignalStreamVerification `json:"verification,omitzero"`

	// lastEventTime is the iat of the latest SET accepted.
	// +optional
	LastEventTime *metav1.Time `json:"lastEventTime,omitempty"`

	// lagSeconds is how long after its iat the latest SET accepted arrived.
	// +optional
	LagSeconds int64 `json:"lagSeconds,omitempty"`

	// lastPollTime is when the last poll ended (Poll only).
	// +optional
	LastPollTime *metav1.Time `json:"lastPollTime,omitempty"`

	// lastError says what failed last; empty after a success. It never
	// holds a token or a URL with credentials.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// counts are the SETs received since this manager started receiving.
	// +optional
	Counts SignalStreamCounts `json:"counts,omitzero"`
}

// SignalStream receives OpenID Shared Signals Framework (SSF 1.0) events
// (CAEP and RISC) from one transmitter, an identity provider or an EDR or
// MDM vendor, and hands them to the signal pipeline that turns them into
// Findings.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sst,categories=portcullis
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.spec.issuer`
// +kubebuilder:printcolumn:name="Delivery",type=string,JSONPath=`.spec.delivery.method`
// +kubebuilder:printcolumn:name="Stream",type=string,JSONPath=`.status.streamStatus`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last Event",type=date,JSONPath=`.status.lastEventTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SignalStream struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which transmitter to receive from.
	// +required
	Spec SignalStreamSpec `json:"spec"`

	// status is what was last observed.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status SignalStreamStatus `json:"status,omitzero"`
}

// SignalStreamList is a list of SignalStreams.
//
// +kubebuilder:object:root=true
type SignalStreamList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SignalStream `json:"items"`
}
