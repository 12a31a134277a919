// Package ssf implements the token layer of the OpenID Shared Signals
// Framework (SSF 1.0): Security Event Tokens (SETs, RFC 8417) whose subjects
// are Subject Identifiers (RFC 9493), carrying CAEP 1.0 and RISC 1.0 events.
//
// The package has two users, both wired into the manager later:
//
//   - the receiver, which accepts SETs from transmitters (identity providers,
//     EDR and MDM vendors) by push (RFC 8935, PushHandler) or poll (RFC 8936)
//     delivery and hands each to Verifier.Verify, then, once it acted on
//     the SET, to Verifier.Accept, which records its jti. A Verifier checks
//     size, algorithm, signature (against a JWKS fetched over HTTPS, see JWKS), issuer,
//     audience, issue time, replay (jti) and shape, and returns the SET or an
//     *Error whose Code is one of the RFC 8935 §2.3 error codes, ready to be
//     sent back to the transmitter (push) or listed in setErrs (poll).
//     Errors that are not the transmitter's fault (a JWKS that cannot be
//     fetched, a full replay store) are returned as plain errors so that the
//     receiver answers with a retryable server error instead of dropping a
//     SET. Poller is the poll client: each Poll makes one request to the
//     transmitter carrying the previous call's acknowledgements and setErrs,
//     and handles the SETs returned by PushHandler's rules.
//   - the transmitter, which announces Portcullis's own transitions to
//     subscribers with a Signer.
//
// The package does no I/O except the JWKS fetch, PushHandler's answers and
// the Poller's requests, keeps no package-level state and takes its clock
// by injection. All JOSE work is done by
// github.com/lestrrat-go/jwx/v3; nothing here implements cryptography.
package ssf
