package connectors

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// ClientAssertion is an RFC 7523 client assertion, the JWT with which an
// OAuth 2.0 client authenticates to a token endpoint by private key: signed
// with RS256, iss and sub the client id, aud the token endpoint, a random
// jti, valid from now for ttl. header adds to {"alg": "RS256", "typ":
// "JWT"}: the key's kid, or a certificate's x5t.
func ClientAssertion(key *rsa.PrivateKey, header map[string]string, clientID, audience string, now time.Time, ttl time.Duration) (string, error) {
	h := map[string]string{"alg": "RS256", "typ": "JWT"}
	for k, v := range header {
		h[k] = v
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	rawHeader, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	rawClaims, err := json.Marshal(map[string]any{
		"iss": clientID, "sub": clientID, "aud": audience, "jti": hex.EncodeToString(jti),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(rawHeader) + "." + base64.RawURLEncoding.EncodeToString(rawClaims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		// The error of a signature names nothing secret, but say less.
		return "", errors.New("signing the client assertion failed")
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
