package graphserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jwt is a parsed compact JWS; nothing in it is trusted until verify passes.
type jwt struct {
	header       map[string]any
	claims       map[string]any
	signingInput string
	sig          []byte
}

func parseJWT(s string) (*jwt, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	t := &jwt{signingInput: parts[0] + "." + parts[1]}
	for i, dst := range []*map[string]any{&t.header, &t.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, err
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	t.sig = sig
	return t, nil
}

// verify checks an RS256 or PS256 signature with pub.
func (t *jwt) verify(pub any) error {
	key, ok := pub.(*rsa.PublicKey)
	if !ok {
		return errors.New("not an RSA key")
	}
	sum := sha256.Sum256([]byte(t.signingInput))
	switch t.header["alg"] {
	case "RS256":
		return rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], t.sig)
	case "PS256":
		return rsa.VerifyPSS(key, crypto.SHA256, sum[:], t.sig, nil)
	}
	return fmt.Errorf("unsupported alg %v", t.header["alg"])
}

// signJWT signs header and claims with RS256.
func signJWT(key *rsa.PrivateKey, header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// decodeB64 decodes base64 in either alphabet, with or without padding.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// numericClaim reads a NumericDate; some clients (older MSAL Go) send it as
// a decimal string, which Entra accepts.
func numericClaim(v any) (time.Time, bool) {
	switch n := v.(type) {
	case float64:
		return time.Unix(int64(n), 0), true
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		if err == nil {
			return time.Unix(i, 0), true
		}
	}
	return time.Time{}, false
}

// tokenClaims is what the Graph side reads from an accepted access token.
type tokenClaims struct {
	AppID string
	Roles []string
}

func (c *tokenClaims) has(role string) bool { return slices.Contains(c.Roles, role) }

// issue answers a successful token request with an app-only access token for
// Graph shaped like Entra's v1 tokens: aud https://graph.microsoft.com,
// iss https://sts.windows.net/{tid}/, appid, appidacr (1 secret, 2
// certificate), idtyp app, oid = sub = service principal id, roles, tid.
func (rc *reqCtx) issue(a *app, acr string) {
	s := rc.s
	now := s.now()
	lifetime := s.opts.TokenLifetime
	claims := map[string]any{
		"aud":      "https://graph.microsoft.com",
		"iss":      "https://sts.windows.net/" + s.tenant + "/",
		"idp":      "https://sts.windows.net/" + s.tenant + "/",
		"iat":      now.Add(-5 * time.Minute).Unix(),
		"nbf":      now.Add(-5 * time.Minute).Unix(),
		"exp":      now.Add(lifetime).Unix(),
		"appid":    a.clientID,
		"appidacr": acr,
		"idtyp":    "app",
		"oid":      a.spID,
		"sub":      a.spID,
		"tid":      s.tenant,
		"uti":      newGUID(),
		"ver":      "1.0",
	}
	s.mu.Lock()
	if len(a.roles) > 0 {
		claims["roles"] = slices.Clone(a.roles)
	}
	s.mu.Unlock()
	tok, err := signJWT(s.key, map[string]any{"typ": "JWT", "alg": "RS256", "kid": s.keyID, "x5t": s.keyID}, claims)
	if err != nil {
		rc.tokenError(http.StatusInternalServerError, "server_error", 90033, "A transient error has occurred. Please try again.")
		return
	}
	rc.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	rc.w.Header().Set("Cache-Control", "no-store, no-cache")
	secs := int(lifetime.Seconds()) - 1
	rc.jsonPlain(http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

func (rc *reqCtx) jsonPlain(status int, v any) {
	rc.w.WriteHeader(status)
	_ = json.NewEncoder(rc.w).Encode(v)
}

// authenticate validates the bearer token of a Graph request and answers
// 401 InvalidAuthenticationToken, with Graph's WWW-Authenticate challenge,
// when it is missing, malformed, not ours, not for Graph or expired.
func (rc *reqCtx) authenticate() bool {
	deny := func(msg string) bool {
		rc.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="`+GraphAppID+`"`)
		rc.graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return false
	}
	raw, ok := strings.CutPrefix(rc.r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return deny("Access token is empty.")
	}
	t, err := parseJWT(strings.TrimSpace(raw))
	if err != nil {
		return deny("IDX14100: JWT is not well formed.")
	}
	if t.header["alg"] != "RS256" || t.verify(&rc.s.key.PublicKey) != nil {
		return deny("Access token validation failure. Invalid signature.")
	}
	if t.claims["aud"] != "https://graph.microsoft.com" && t.claims["aud"] != GraphAppID {
		return deny("Access token validation failure. Invalid audience.")
	}
	if t.claims["tid"] != rc.s.tenant {
		return deny("Access token validation failure. Invalid issuer.")
	}
	exp, ok := numericClaim(t.claims["exp"])
	if !ok || !rc.s.now().Before(exp) {
		return deny("Lifetime validation failed, the token is expired.")
	}
	c := &tokenClaims{}
	c.AppID, _ = t.claims["appid"].(string)
	roles, _ := t.claims["roles"].([]any)
	for _, r := range roles {
		if s, ok := r.(string); ok {
			c.Roles = append(c.Roles, s)
		}
	}
	rc.app = c
	return true
}
