// Package signalsink turns the Security Event Tokens that a SignalStream
// accepted into evidence: Findings about the contractors whose accounts the
// SETs' subjects name.
//
// The mapping (classify): RISC account-disabled and account-purged are an
// account-disabled Finding (High; Critical for reason hijacking) that does
// not expire, lifted by an account-enabled from the same stream that is not
// older than it; credential-compromise is a credential-compromise Finding
// (High); CAEP device-compliance-change to not-compliant a
// device-noncompliant Finding (Medium), one per device when the subject
// names one, lifted by one to compliant for the same device;
// session-revoked (and RISC sessions-revoked) a session-revoked Finding
// (Info); credential-change, an assurance-level-change that decreases,
// token-claims-change, identifier-changed and identifier-recycled a
// security-event Finding (Low or Info). Those expire Sink.FindingTTL after
// they were last recorded. Every other event is ignored.
package signalsink

// Source is the SignalStream a SET arrived on.
type Source struct {
	// Name is the SignalStream's name; Findings name it as their source.
	Name string
	// Issuer is the transmitter's issuer identifier (the SETs' "iss").
	Issuer string
	// Systems are the ConnectedSystems whose account ids the transmitter's
	// subjects name, besides the contractors' e-mail addresses.
	Systems []string
}

// Outcome counts what one SET's events did.
type Outcome struct {
	// Recorded is the number of events recorded as (or into) a Finding,
	// or that lifted one or found none to lift.
	Recorded int
	// Unmatched is the number of events whose subject names no contractor.
	Unmatched int
	// Ambiguous is the number of events whose subject names several
	// contractors; they change nothing.
	Ambiguous int
	// Ignored is the number of events of types that change nothing, of
	// SETs whose events do not decode, and of events whose Finding the
	// API server refused as invalid (or whose namespace is gone).
	Ignored int
}
