package googleserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Assertion is the claim set of a service account's JWT bearer grant.
type Assertion struct {
	Issuer   string    // iss: the service account's email
	Subject  string    // sub: the user to impersonate; empty for none
	Scopes   []string  // scope, sent space-separated
	Audience string    // aud: the token URL
	IssuedAt time.Time // iat
	Expiry   time.Time // exp: at most an hour after iat
}

// SignAssertion encodes and RS256-signs a, with keyID in the JOSE header's
// kid, as a client library does before posting it to the token endpoint.
// Tests use it to build good and deliberately bad assertions.
func SignAssertion(key *rsa.PrivateKey, keyID string, a Assertion) (string, error) {
	header, err := json.Marshal(jwtHeader{Alg: "RS256", Typ: "JWT", Kid: keyID})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(jwtClaims{
		Iss:   a.Issuer,
		Sub:   a.Subject,
		Scope: strings.Join(a.Scopes, " "),
		Aud:   a.Audience,
		Iat:   a.IssuedAt.Unix(),
		Exp:   a.Expiry.Unix(),
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}
