package googleserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// OAuth 2.0 scopes of the Admin SDK, as the discovery documents name them.
const (
	ScopeUser                = "https://www.googleapis.com/auth/admin.directory.user"
	ScopeUserReadonly        = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeUserSecurity        = "https://www.googleapis.com/auth/admin.directory.user.security"
	ScopeGroup               = "https://www.googleapis.com/auth/admin.directory.group"
	ScopeGroupReadonly       = "https://www.googleapis.com/auth/admin.directory.group.readonly"
	ScopeGroupMember         = "https://www.googleapis.com/auth/admin.directory.group.member"
	ScopeGroupMemberReadonly = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
	ScopeReportsAudit        = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
)

// GrantTypeJWTBearer is the grant_type of the service-account token request.
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxAssertionLife is the longest exp-iat Google accepts (one hour); clock
// skew is the allowance for an iat slightly in the future.
const (
	maxAssertionLife = time.Hour
	clockSkew        = 5 * time.Minute
)

// Token endpoint error descriptions, as Google words them.
const (
	errBadSignature   = "Invalid JWT Signature."
	errShortLived     = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	errUnauthorized   = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
	errAccountMissing = "Invalid grant: account not found"
	errBadSubject     = "Invalid email or User ID"
)

type serviceAccount struct {
	keys      map[string]*rsa.PublicKey // by key id
	delegated map[string]bool           // scopes the Workspace admin authorised
}

// grant is what an access token stands for.
type grant struct {
	account string
	sub     string // impersonated user's primary email; "" for the account itself
	scopes  map[string]bool
	expiry  time.Time
}

// RegisterServiceAccount adds a service account key and records the
// domain-wide delegation grant: the scopes a Workspace super admin has
// authorised for the account's client in the Admin console. Calling it again
// for the same email adds another key and replaces the delegated scopes.
func (s *Server) RegisterServiceAccount(email, keyID string, pub *rsa.PublicKey, delegatedScopes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.accounts[email]
	if sa == nil {
		sa = &serviceAccount{keys: map[string]*rsa.PublicKey{}}
		s.accounts[email] = sa
	}
	sa.keys[keyID] = pub
	sa.delegated = map[string]bool{}
	for _, sc := range delegatedScopes {
		sa.delegated[sc] = true
	}
}

type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid,omitempty"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub,omitempty"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// handleToken is POST /token: the JWT bearer grant (RFC 7523) as Google's
// token endpoint implements it for service accounts.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_request", "Could not parse the request body."})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != GrantTypeJWTBearer {
		writeJSON(w, http.StatusBadRequest, tokenError{"unsupported_grant_type", "Invalid grant_type: " + gt})
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_request", "Missing required parameter: assertion"})
		return
	}
	g, code, terr := s.verifyAssertion(assertion)
	if terr != nil {
		writeJSON(w, code, terr)
		return
	}
	tok := "ya29.fake-" + randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = g
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok,
		ExpiresIn:   int(s.opts.TokenLifetime/time.Second) - 1,
		TokenType:   "Bearer",
	})
}

// verifyAssertion checks a signed JWT the way Google's token endpoint does
// and returns the grant it earns, or the error response.
func (s *Server) verifyAssertion(assertion string) (*grant, int, *tokenError) {
	bad := func(desc string) (*grant, int, *tokenError) {
		return nil, http.StatusBadRequest, &tokenError{"invalid_grant", desc}
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return bad("Invalid JWT: the assertion is not a compact JWS.")
	}
	var h jwtHeader
	var c jwtClaims
	if decodeSegment(parts[0], &h) != nil || decodeSegment(parts[1], &c) != nil {
		return bad("Invalid JWT: the header or claim set is not valid base64url JSON.")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || h.Alg != "RS256" {
		return bad(errBadSignature)
	}
	sa, keys := s.keysFor(c.Iss, h.Kid)
	if sa == nil {
		return bad(errAccountMissing)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !slices.ContainsFunc(keys, func(k *rsa.PublicKey) bool {
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
	}) {
		return bad(errBadSignature)
	}
	if c.Aud != s.TokenURL() {
		return bad("Invalid JWT: Failed audience check. The right audience is " + s.TokenURL())
	}
	if !s.shortLived(c) {
		return bad(errShortLived)
	}
	return s.grantFor(c, sa)
}

// keysFor returns the service account iss and its keys that may have
// signed a JWT with header kid: the named key, or all of them without kid.
func (s *Server) keysFor(iss, kid string) (*serviceAccount, []*rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.accounts[iss]
	if sa == nil {
		return nil, nil
	}
	if kid != "" {
		if k := sa.keys[kid]; k != nil {
			return sa, []*rsa.PublicKey{k}
		}
		return sa, nil
	}
	var keys []*rsa.PublicKey
	for _, k := range sa.keys {
		keys = append(keys, k)
	}
	return sa, keys
}

// shortLived reports whether iat and exp make a live assertion of at most
// an hour, as Google requires.
func (s *Server) shortLived(c jwtClaims) bool {
	now := s.opts.Now()
	iat, exp := time.Unix(c.Iat, 0), time.Unix(c.Exp, 0)
	return c.Iat != 0 && c.Exp != 0 && exp.After(iat) && exp.Sub(iat) <= maxAssertionLife &&
		now.Before(exp) && !iat.After(now.Add(clockSkew))
}

// grantFor applies domain-wide delegation: the subject must be a user of
// the domain and every requested scope must have been delegated.
func (s *Server) grantFor(c jwtClaims, sa *serviceAccount) (*grant, int, *tokenError) {
	scopes := map[string]bool{}
	for _, sc := range strings.Fields(c.Scope) {
		scopes[sc] = true
	}
	if len(scopes) == 0 {
		return nil, http.StatusBadRequest, &tokenError{"invalid_scope", "Empty or missing scope not allowed."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &grant{account: c.Iss, scopes: scopes, expiry: s.opts.Now().Add(s.opts.TokenLifetime)}
	if c.Sub == "" {
		return g, 0, nil // the account acts as itself: it is no Workspace admin
	}
	u := s.userByKey(c.Sub)
	if u == nil {
		return nil, http.StatusBadRequest, &tokenError{"invalid_grant", errBadSubject}
	}
	for sc := range scopes {
		if !sa.delegated[sc] {
			return nil, http.StatusUnauthorized, &tokenError{"unauthorized_client", errUnauthorized}
		}
	}
	g.sub = u.email
	return g, 0, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// authorize checks the bearer token of an API request against the scopes
// the method accepts (any one suffices, as in the discovery documents) and
// applies the rate limits. It writes the error and returns nil on failure.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, accepted ...string) *grant {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		writeErrorItem(w, http.StatusUnauthorized,
			"Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
			errorItem{Message: "Login Required.", Domain: "global", Reason: "required", Location: "Authorization", LocationType: "header"})
		return nil
	}
	s.mu.Lock()
	g := s.tokens[tok]
	if g != nil && !s.opts.Now().Before(g.expiry) {
		g = nil
	}
	var status int
	var reason, msg string
	if g != nil {
		status, reason, msg = s.rateLimited(g.sub)
	}
	s.mu.Unlock()
	switch {
	case g == nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeErrorItem(w, http.StatusUnauthorized,
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
			errorItem{Message: "Invalid Credentials", Domain: "global", Reason: "authError", Location: "Authorization", LocationType: "header"})
		return nil
	case !hasAny(g.scopes, accepted):
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope"`)
		writeError(w, http.StatusForbidden, "insufficientPermissions", "Request had insufficient authentication scopes.")
		return nil
	case status != 0:
		writeError(w, status, reason, msg)
		return nil
	}
	return g
}

func hasAny(have map[string]bool, accepted []string) bool {
	for _, sc := range accepted {
		if have[sc] {
			return true
		}
	}
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
