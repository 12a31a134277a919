package oktaserver

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
)

// Okta error codes used by the fake, from the Management API reference's
// error examples.
const (
	errValidation    = "E0000001" // Api validation failed: {0}
	errPermission    = "E0000006" // You do not have permission to perform the requested action
	errNotFound      = "E0000007" // Not found: {0}
	errInternal      = "E0000009" // Internal Server Error
	errInvalidToken  = "E0000011" // Invalid token provided
	errMissingParam  = "E0000028" // The request is missing a required parameter.
	errInvalidSearch = "E0000031" // Invalid search criteria.
	errRateLimit     = "E0000047" // API call exceeded rate limit due to too many requests.
)

// Error is the body of an Okta Management API error response.
type Error struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []ErrorCause `json:"errorCauses"`
}

// ErrorCause is one entry of Error.ErrorCauses.
type ErrorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

// OAuthError is the body of an OAuth 2.0 error from the token endpoint.
type OAuthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes an Okta error body; causes become errorCauses.
func (s *Server) writeError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	body := Error{
		ErrorCode:    code,
		ErrorSummary: summary,
		ErrorLink:    code,
		ErrorID:      "oae" + randomID("", 22),
		ErrorCauses:  []ErrorCause{},
	}
	for _, c := range causes {
		body.ErrorCauses = append(body.ErrorCauses, ErrorCause{ErrorSummary: c})
	}
	s.writeJSON(w, status, body)
}

func (s *Server) writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	s.writeJSON(w, status, OAuthError{Error: code, ErrorDescription: description})
}

// writeStatusError writes the Okta error matching an injected status.
func (s *Server) writeStatusError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		s.writeError(w, status, errRateLimit, "API call exceeded rate limit due to too many requests.")
	case http.StatusNotFound:
		s.writeError(w, status, errNotFound, "Not found: Resource not found")
	case http.StatusForbidden:
		s.writeError(w, status, errPermission, "You do not have permission to perform the requested action")
	case http.StatusUnauthorized:
		s.writeError(w, status, errInvalidToken, "Invalid token provided")
	default:
		s.writeError(w, status, errInternal, "Internal Server Error")
	}
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID is prefix followed by n random base-62 characters, the shape of
// Okta object ids ("00u" + 17 characters for a user).
func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + string(b)
}

// newUUID is a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0x0f])
	}
	return string(out)
}
