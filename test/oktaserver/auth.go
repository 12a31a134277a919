package oktaserver

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"time"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// accessToken is an issued OAuth 2.0 access token.
type accessToken struct {
	clientID string
	scopes   []string
	expires  time.Time
}

// clockSkew is the leeway for iat and nbf in the future.
const clockSkew = time.Minute

// token is POST /oauth2/v1/token on the org authorization server: the
// client_credentials grant with private_key_jwt client authentication.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is malformed.")
		return
	}
	f := r.PostForm
	_, _, hasBasic := r.BasicAuth()
	assertion := f.Get("client_assertion")
	switch {
	case hasBasic && assertion != "":
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Can't supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a `client_assertion` in the post body.")
		return
	case assertion == "":
		s.writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "No client credentials found")
		return
	case f.Get("client_assertion_type") != assertionType:
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The `client_assertion_type` is invalid.")
		return
	}
	client, status, code, desc := s.verifyAssertion(assertion, f.Get("client_id"))
	if code != "" {
		s.writeOAuthError(w, status, code, desc)
		return
	}
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The `grant_type` parameter is required.")
		} else {
			s.writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type in the request isn't supported.")
		}
		return
	}
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "No scopes were requested.")
		return
	}
	var denied []string
	for _, sc := range scopes {
		if !slices.Contains(client.Scopes, sc) {
			denied = append(denied, sc)
		}
	}
	if len(denied) > 0 {
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_scope",
			"The following scopes are not granted to the client: "+strings.Join(denied, " "))
		return
	}
	tok := randomID("", 48)
	s.mu.Lock()
	s.tokens[tok] = accessToken{clientID: client.ID, scopes: scopes, expires: s.now().Add(s.opts.AccessTokenTTL)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	s.writeJSON(w, http.StatusOK, map[string]any{
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.AccessTokenTTL / time.Second),
		"access_token": tok,
		"scope":        strings.Join(scopes, " "),
	})
}

type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *float64        `json:"exp"`
	Iat *float64        `json:"iat"`
	Nbf *float64        `json:"nbf"`
	Jti string          `json:"jti"`
}

// verifyAssertion checks a private_key_jwt client assertion: RS256/384/512
// signature by the registered key, iss = sub = client_id, aud = the token
// endpoint, exp in the future but at most an hour ahead, and a jti not seen
// before. It returns the client, or an HTTP status and OAuth error.
func (s *Server) verifyAssertion(jwt, formClientID string) (Client, int, string, string) {
	bad := func(desc string) (Client, int, string, string) {
		return Client{}, http.StatusUnauthorized, "invalid_client", desc
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return bad("The client_assertion token is malformed.")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims assertionClaims
	if decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil {
		return bad("The client_assertion token is malformed.")
	}
	clientID := claims.Iss
	if formClientID != "" && formClientID != clientID {
		return bad("The client_id parameter doesn't match the client_assertion issuer.")
	}
	s.mu.Lock()
	client, ok := s.clients[clientID]
	s.mu.Unlock()
	if !ok || clientID == "" {
		return bad("Invalid value for `client_id` parameter.")
	}
	if claims.Sub != clientID {
		return bad("The client_assertion token must have the same value for the issuer (iss) and subject (sub) claims.")
	}
	if err := verifyRSA(client.PublicKey, header.Alg, parts[0]+"."+parts[1], parts[2]); err != nil {
		return bad("The client_assertion signature is invalid.")
	}
	if !audienceMatches(claims.Aud, s.TokenURL()) {
		return bad("The audience claim for client_assertion must be the endpoint invoking the request.")
	}
	if desc := checkLifetime(claims, s.now()); desc != "" {
		return bad(desc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := clientID + "\x00" + claims.Jti
	if _, used := s.usedJTIs[key]; used {
		return bad("The client_assertion token has already been used.")
	}
	s.usedJTIs[key] = unixTime(*claims.Exp)
	return client, 0, "", ""
}

// checkLifetime checks exp (required, future, at most an hour ahead), iat
// and nbf (not in the future), and jti (required), returning the error
// description or "".
func checkLifetime(claims assertionClaims, now time.Time) string {
	if claims.Exp == nil {
		return "The client_assertion token must contain an exp claim."
	}
	exp := unixTime(*claims.Exp)
	if !now.Before(exp) {
		return "The client_assertion token is expired."
	}
	if exp.After(now.Add(time.Hour + clockSkew)) {
		return "The client_assertion token has an expiration too far into the future."
	}
	if (claims.Iat != nil && unixTime(*claims.Iat).After(now.Add(clockSkew))) ||
		(claims.Nbf != nil && unixTime(*claims.Nbf).After(now.Add(clockSkew))) {
		return "The client_assertion token isn't valid yet."
	}
	if claims.Jti == "" {
		return "The client_assertion token must contain a jti claim."
	}
	return ""
}

func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

func unixTime(f float64) time.Time {
	return time.Unix(0, int64(f*float64(time.Second)))
}

func audienceMatches(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return slices.Contains(many, want)
	}
	return false
}

func verifyRSA(pub *rsa.PublicKey, alg, signingInput, sigSeg string) error {
	if pub == nil {
		return errors.New("no key registered")
	}
	var h hash.Hash
	var id crypto.Hash
	switch alg {
	case "RS256":
		h, id = sha256.New(), crypto.SHA256
	case "RS384":
		h, id = sha512.New384(), crypto.SHA384
	case "RS512":
		h, id = sha512.New(), crypto.SHA512
	default:
		return fmt.Errorf("unsupported alg %q", alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigSeg)
	if err != nil {
		return err
	}
	h.Write([]byte(signingInput))
	return rsa.VerifyPKCS1v15(pub, id, h.Sum(nil), sig)
}

// authorize checks the Authorization header of a Management API request.
// SSWS API tokens may do anything; Bearer tokens need one of scopes.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, scopes []string) bool {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	s.mu.Lock()
	_, sswsOK := s.apiTokens[cred]
	tok, bearerOK := s.tokens[cred]
	s.mu.Unlock()
	switch {
	case scheme == "SSWS" && cred != "" && sswsOK:
		return true
	case scheme == "Bearer" && cred != "" && bearerOK:
		if !s.now().Before(tok.expires) {
			s.bearerChallenge(w, r, scopes, "invalid_token", "The token has expired.")
			s.writeError(w, http.StatusUnauthorized, errInvalidToken, "Invalid token provided")
			return false
		}
		for _, need := range scopes {
			if slices.Contains(tok.scopes, need) {
				return true
			}
		}
		s.bearerChallenge(w, r, scopes, "insufficient_scope", "The access token provided does not contain the required scopes.")
		s.writeError(w, http.StatusForbidden, errPermission, "You do not have permission to perform the requested action")
		return false
	case scheme == "Bearer":
		s.bearerChallenge(w, r, scopes, "invalid_token", "The access token is invalid.")
	}
	s.writeError(w, http.StatusUnauthorized, errInvalidToken, "Invalid token provided")
	return false
}

func (s *Server) bearerChallenge(w http.ResponseWriter, r *http.Request, scopes []string, code, desc string) {
	org := s.URL()
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(
		`Bearer authorization_uri="%s/oauth2/v1/authorize", realm="%s", scope="%s", error="%s", error_description="%s", resource="%s"`,
		org, org, scopes[0], code, desc, r.URL.Path))
}

// AccessTokenScopes returns the scopes of an issued access token, or nil.
func (s *Server) AccessTokenScopes(token string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens[token].scopes)
}
