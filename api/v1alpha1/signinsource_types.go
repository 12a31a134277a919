package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SignInSourceSpec says which identity provider's sign-in log to read and
// how often.
type SignInSourceSpec struct {
	// system is the name of the ConnectedSystem, of type okta, entra or
	// google, whose sign-in log is read: its org, tenant or account
	// settings, its TLS settings and, unless credentialsSecretRef is set,
	// its credentials. The sign-ins name accounts on this system, which
	// Contractors list in spec.accounts. A system in dry run is read all
	// the same: observing without enforcing is what dry run is for. It
	// cannot change: the cursor belongs to one log; read another with
	// another SignInSource.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.system cannot change: the cursor in status belongs to this system's log; create another SignInSource to read another"
	System string `json:"system"`

	// credentialsSecretRef names a Secret, in the controller's credentials
	// namespace, with credentials that may only read the log (keys as the
	// system's type documents them). Defaults to the system's own
	// credentials, which then need the log-reading permission as well.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// pollIntervalSeconds is how long after one poll the next begins.
	// Defaults to 60, at least 10, at most 3600.
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=3600
	PollIntervalSeconds int32 `json:"pollIntervalSeconds,omitempty"`

	// lateArrivalSeconds is how far back each poll reads again for records
	// the provider publishes late (Microsoft and Google publish some sign-ins
	// minutes after they happen); records read before are recognised and
	// not processed twice. Defaults to 600, at most 86400.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	LateArrivalSeconds int32 `json:"lateArrivalSeconds,omitempty"`

	// initialLookbackSeconds is how far back the first poll reads. Defaults
	// to 3600, at most 604800 (seven days).
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=604800
	InitialLookbackSeconds int32 `json:"initialLookbackSeconds,omitempty"`

	// suspend stops polling; status.cursor is kept, and polling resumes
	// from it when suspend is cleared.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// SignInCursor is where the next poll resumes. The controller writes it
// after the sign-ins before it are stored, so a restart or a new leader
// reads every record once.
type SignInCursor struct {
	// until is the end of the last window read: every record published
	// before it has been read, except those the provider publishes late,
	// which the next poll reads from until minus lateArrivalSeconds.
	// +required
	Until metav1.MicroTime `json:"until"`

	// seen are digests of the records already read at or after until minus
	// lateArrivalSeconds, so that reading that part again processes none
	// of them twice. At most 8192; a busier window keeps the newest.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8192
	// +kubebuilder:validation:items:MaxLength=16
	Seen []string `json:"seen,omitempty"`
}

// SignInSourceCounts count the records the source has read since it was
// created.
type SignInSourceCounts struct {
	// signIns are the sign-ins handed to the pipeline.
	// +optional
	SignIns int64 `json:"signIns,omitempty"`
	// accepted are the sign-ins stored as a contractor's evidence.
	// +optional
	Accepted int64 `json:"accepted,omitempty"`
	// rejected are the sign-ins the pipeline refused, most often of an
	// account that no Contractor lists in spec.accounts.
	// +optional
	Rejected int64 `json:"rejected,omitempty"`
	// skipped are the records that are no successful sign-in of an
	// account: failed attempts, other events, service principals.
	// +optional
	Skipped int64 `json:"skipped,omitempty"`
}

// SignInSourceStatus is what the controller last observed of the log.
type SignInSourceStatus struct {
	// conditions hold the summary Ready condition and the kstatus
	// Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the last poll, or
	// the suspension, used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// cursor is where the next poll resumes; empty before the first.
	// +optional
	Cursor *SignInCursor `json:"cursor,omitempty"`

	// lastPollTime is when the last poll, successful or not, ended.
	// +optional
	LastPollTime *metav1.Time `json:"lastPollTime,omitempty"`

	// lastSuccessTime is when the last successful poll ended.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`

	// lagSeconds is how far the cursor was behind the manager's clock at
	// the end of the last successful poll: near zero when the source keeps
	// up, larger while it catches up after an outage.
	// +optional
	LagSeconds int64 `json:"lagSeconds,omitempty"`

	// lastError says why the last poll failed; empty after a success. It
	// never holds a credential.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// counts are the records read since the source was created.
	// +optional
	Counts SignInSourceCounts `json:"counts,omitzero"`
}

// SignInSource reads an identity provider's sign-in log (Okta's System
// Log, Microsoft Entra ID's sign-in logs, Google Workspace's login
// activities) and feeds its sign-ins into the same pipeline as the
// sign-in endpoint: enrichment, correlators, Findings.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sis,categories=portcullis
// +kubebuilder:printcolumn:name="System",type=string,JSONPath=`.spec.system`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Lag",type=integer,JSONPath=`.status.lagSeconds`
// +kubebuilder:printcolumn:name="Last Poll",type=date,JSONPath=`.status.lastPollTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SignInSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which log to read.
	// +required
	Spec SignInSourceSpec `json:"spec"`

	// status is what was last observed.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status SignInSourceStatus `json:"status,omitzero"`
}

// SignInSourceList is a list of SignInSources.
//
// +kubebuilder:object:root=true
type SignInSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SignInSource `json:"items"`
}
