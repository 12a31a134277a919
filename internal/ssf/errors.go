package ssf

import "errors"

// Error codes of RFC 8935 §2.3 (registered in the "Security Event Token
// Error Codes" registry), used in push error responses and in the setErrs
// member of poll requests (RFC 8936 §2.4).
const (
	// CodeInvalidRequest: the SET or its delivery is malformed or unacceptable.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidKey: the key used to sign the SET is unknown or unacceptable.
	CodeInvalidKey = "invalid_key"
	// CodeInvalidIssuer: the issuer is not the one expected.
	CodeInvalidIssuer = "invalid_issuer"
	// CodeInvalidAudience: the audience does not include this receiver.
	CodeInvalidAudience = "invalid_audience"
	// CodeAuthenticationFailed: the SET's signature could not be verified.
	CodeAuthenticationFailed = "authentication_failed"
	// CodeAccessDenied: the transmitter may not send this SET.
	CodeAccessDenied = "access_denied"
)

// Error is a SET the receiver refuses, in the shape of an RFC 8935 §2.3
// error response body. Its Description never contains the token, a claim
// value chosen by the sender beyond a short bounded quote, or key material.
type Error struct {
	// Code is the "err" member: one of the Code constants.
	Code string `json:"err"`
	// Description is the "description" member: human-readable, for the
	// transmitter's operators.
	Description string `json:"description"`
}

// Error returns the code and the description.
func (e *Error) Error() string { return e.Code + ": " + e.Description }

func newError(code, description string) *Error {
	return &Error{Code: code, Description: description}
}

// Errors that are not the transmitter's fault. A receiver answers them with
// a retryable server error (HTTP 503) so that the SET is delivered again,
// never with an RFC 8935 error that would make the transmitter drop it.
var (
	// ErrKeysUnavailable: the transmitter's JWKS could not be fetched or parsed.
	ErrKeysUnavailable = errors.New("signing keys unavailable")
	// ErrReplayStoreFull: the replay store holds only unexpired jtis and
	// refuses to forget one to make room.
	ErrReplayStoreFull = errors.New("replay store full")
	// ErrUnknownKey: the key source has no key with the token's kid. The
	// Verifier turns it into an invalid_key *Error.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrReplay: the replay store has seen the jti. The Verifier turns it
	// into an invalid_request *Error.
	ErrReplay = errors.New("jti already seen")
)
