// Package signalsink turns the Security Event Tokens that a SignalStream
// accepted into evidence: Findings about the contractors whose accounts the
// SETs' subjects name.
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
	// or that lifted one.
	Recorded int
	// Unmatched is the number of events whose subject names no contractor.
	Unmatched int
	// Ambiguous is the number of events whose subject names several
	// contractors; they change nothing.
	Ambiguous int
	// Ignored is the number of events of types that change nothing.
	Ignored int
}
