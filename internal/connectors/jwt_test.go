package connectors

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestClientAssertion(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	jwt, err := ClientAssertion(key, map[string]string{"kid": "k1"}, "client", "https://idp.example.com/token", now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("signature: %v", err)
	}
	var header map[string]string
	var claims map[string]any
	rawHeader, _ := base64.RawURLEncoding.DecodeString(parts[0])
	rawClaims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(rawHeader, &header) != nil || json.Unmarshal(rawClaims, &claims) != nil {
		t.Fatal("not JSON")
	}
	if header["alg"] != "RS256" || header["kid"] != "k1" {
		t.Errorf("header %v", header)
	}
	if claims["iss"] != "client" || claims["sub"] != "client" || claims["aud"] != "https://idp.example.com/token" ||
		claims["exp"] != float64(now.Add(5*time.Minute).Unix()) || len(claims["jti"].(string)) != 32 {
		t.Errorf("claims %v", claims)
	}
	other, _ := ClientAssertion(key, nil, "client", "aud", now, time.Minute)
	if strings.Split(other, ".")[1] == parts[1] {
		t.Error("two assertions share a jti")
	}
}
