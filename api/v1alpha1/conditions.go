package v1alpha1

// ConditionReady is the summary condition that every kind carries. kstatus
// readers (Flux, Argo CD, `kubectl wait --for=condition=Ready`) read it.
const ConditionReady = "Ready"

// ConditionReconciling and ConditionStalled follow kstatus, which Flux and
// the cli-utils status library read: Reconciling=True while the controller
// is still working towards Ready (retrying a system, waiting for grants),
// Stalled=True when it cannot get there without a person (a compile error,
// missing credentials, a guard hold, an expired exception). Both are absent
// when the object is Ready. Their reason and message are Ready's.
const (
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// ConditionReferencesResolved says whether every object that a spec refers to
// (Contractor, ConnectedSystem, Secret, ConfigMap, AccessGrant) exists.
const ConditionReferencesResolved = "ReferencesResolved"

// Reasons of the Ready and ReferencesResolved conditions. A reason is a
// CamelCase word that a person or a script can match on; the condition's
// message says what to do.
const (
	// ReasonResolved: every referenced object exists.
	ReasonResolved = "Resolved"
	// ReasonContractorNotFound: the referenced Contractor does not exist.
	ReasonContractorNotFound = "ContractorNotFound"
	// ReasonConnectedSystemNotFound: the referenced ConnectedSystem does not exist.
	ReasonConnectedSystemNotFound = "ConnectedSystemNotFound"
	// ReasonGrantNotFound: the referenced AccessGrant does not exist.
	ReasonGrantNotFound = "GrantNotFound"
	// ReasonPolicyNotFound: the referenced AccessPolicy does not exist.
	ReasonPolicyNotFound = "PolicyNotFound"
	// ReasonSecretNotFound: the referenced credentials Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonConfigMapNotFound: the referenced ConfigMap, or its key, does not exist.
	ReasonConfigMapNotFound = "ConfigMapNotFound"
	// ReasonExpired: the object's expiry has passed.
	ReasonExpired = "Expired"
	// ReasonActive: the object is in force.
	ReasonActive = "Active"
	// ReasonCompiled: the policy compiled and is in use.
	ReasonCompiled = "Compiled"
	// ReasonCompileError: the policy does not compile; the message has
	// policy:line:col and the compiler's words.
	ReasonCompileError = "CompileError"
	// ReasonCredentialsIncomplete: the credentials Secret lacks a key that
	// the system's type needs.
	ReasonCredentialsIncomplete = "CredentialsIncomplete"
	// ReasonConnected: the connected system answered a connectivity check.
	ReasonConnected = "Connected"
	// ReasonUnreachable: the connected system could not be reached or refused the credentials.
	ReasonUnreachable = "Unreachable"

	// ReasonEnforced: the grant's entitlement is in the state its decision asks for.
	ReasonEnforced = "Enforced"
	// ReasonEnforcementFailed: applying the state in the connected system failed;
	// the controller retries with backoff.
	ReasonEnforcementFailed = "EnforcementFailed"
	// ReasonHeldByGuard: the blast-radius guard holds a quarantine or revocation
	// until a person releases it.
	ReasonHeldByGuard = "HeldByGuard"
	// ReasonNoAccount: the contractor has no account on the grant's system.
	ReasonNoAccount = "NoAccount"
	// ReasonDecisionFailed: the policies could not be evaluated for the grant.
	ReasonDecisionFailed = "DecisionFailed"
	// ReasonDryRun: the connected system is in dry-run mode; the state was
	// recorded, not applied.
	ReasonDryRun = "DryRun"
	// ReasonEntitlementNotAllowed: the grant names an entitlement that its
	// ConnectedSystem does not list as grantable; it is never enforced.
	ReasonEntitlementNotAllowed = "EntitlementNotAllowed"
	// ReasonSecretNamespaceNotAllowed: the credentials Secret is outside
	// the namespace the controller reads credentials from.
	ReasonSecretNamespaceNotAllowed = "SecretNamespaceNotAllowed"
	// ReasonInsecure: the system's settings would send credentials without
	// TLS, or carry them in a URL; the connector does not contact it.
	ReasonInsecure = "Insecure"
	// ReasonTooLong: the exception lasts longer than the policy data allows
	// (exceptions.max_days) and applies nowhere.
	ReasonTooLong = "TooLong"
	// ReasonEvaluationError: the policy compiled, but failed to evaluate
	// (a runtime error or a timeout) in recent decisions; the grants
	// concerned followed its failurePolicy.
	ReasonEvaluationError = "EvaluationError"
	// ReasonSystemDeleting: the grant's ConnectedSystem is being deleted;
	// a grant that holds nothing there is not enforced any more.
	ReasonSystemDeleting = "SystemDeleting"
	// ReasonInUse: the ConnectedSystem is being deleted and waits until no
	// grant holds access through it.
	ReasonInUse = "InUse"
)

// Reasons of a SignInSource's Ready condition.
const (
	// ReasonPolling: the last poll read the log and stored its sign-ins.
	ReasonPolling = "Polling"
	// ReasonPollFailed: the last poll failed (the provider unreachable,
	// throttling, a write that failed); the next poll retries from the
	// same cursor.
	ReasonPollFailed = "PollFailed"
	// ReasonCredentialsRefused: the provider refused the credentials or
	// they lack the permission to read the log.
	ReasonCredentialsRefused = "CredentialsRefused"
	// ReasonNoSignInLog: the ConnectedSystem's type keeps no sign-in log
	// that Portcullis reads (only okta, entra and google do).
	ReasonNoSignInLog = "NoSignInLog"
	// ReasonSuspended: spec.suspend stops polling, as asked; Ready is True.
	ReasonSuspended = "Suspended"
)

// Reasons of a SignalStream's Ready condition (with ReasonSecretNotFound,
// ReasonSecretNamespaceNotAllowed, ReasonCredentialsIncomplete,
// ReasonCredentialsRefused and ReasonSuspended).
const (
	// ReasonReceiving: the stream is configured, verified and enabled at the
	// transmitter, and its SETs are received.
	ReasonReceiving = "Receiving"
	// ReasonDiscoveryFailed: the transmitter's metadata could not be read
	// or does not fit the issuer (another issuer, endpoints that are not
	// https); retried with backoff.
	ReasonDiscoveryFailed = "DiscoveryFailed"
	// ReasonStreamFailed: a stream management request or a poll failed
	// (the transmitter unreachable, an error answer); retried with backoff.
	ReasonStreamFailed = "StreamFailed"
	// ReasonStreamPaused: the transmitter reports the stream paused, holding
	// its events, though spec.suspend is not set.
	ReasonStreamPaused = "StreamPaused"
	// ReasonStreamDisabled: the transmitter reports the stream disabled: it
	// drops events.
	ReasonStreamDisabled = "StreamDisabled"
	// ReasonVerificationPending: the stream is configured and a verification
	// event is awaited from the transmitter.
	ReasonVerificationPending = "VerificationPending"
	// ReasonNoReceiverURL: push delivery needs the manager's receiver URL
	// (--ssf-receiver-url), which is not set.
	ReasonNoReceiverURL = "NoReceiverURL"
)
