package ssfserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Error codes of the fake's error bodies. invalid_request is the RFC 8935
// §2.3 / RFC 8936 §2.4.4 code; the others name the HTTP condition.
const (
	codeInvalidRequest = "invalid_request"
	codeUnauthorized   = "authentication_failed"
	codeNotFound       = "not_found"
	codeConflict       = "conflict"
	codeUnavailable    = "temporarily_unavailable"
)

// maxRequestBytes bounds a request body.
const maxRequestBytes = 64 << 10

// ErrorBody is the body of every error answer: the shape of an RFC 8935
// §2.3 error response.
type ErrorBody struct {
	// Err is the "err" member: an error code.
	Err string `json:"err"`
	// Description is the "description" member: text for people.
	Description string `json:"description"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, ErrorBody{Err: code, Description: description})
}

func badRequest(w http.ResponseWriter, description string) {
	writeError(w, http.StatusBadRequest, codeInvalidRequest, description)
}

func unknownStream(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no stream %q", id))
}

// decodeJSON reads a bounded JSON object body into v. On failure it has
// answered 400 and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil || len(body) > maxRequestBytes {
		badRequest(w, "request body unreadable or too large")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			badRequest(w, fmt.Sprintf("member %q has the wrong type", typeErr.Field))
		} else {
			badRequest(w, "request body is not a JSON object")
		}
		return false
	}
	return true
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
