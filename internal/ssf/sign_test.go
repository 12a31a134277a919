package ssf

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

func TestSignerHeadersAndClaims(t *testing.T) {
	f := newFixture(t, "ES384")
	set := newSET(withJTI("transition-7f1c"), withAudience("a", "b"), withIssuedAt(testNow.Add(-time1s)))
	set.TxnID = "txn-1"
	tok, err := f.signer.Sign(set)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	typ, _ := h.Type()
	kid, _ := h.KeyID()
	alg, _ := h.Algorithm()
	if typ != TypeSecEventJWT || kid != "k1" || alg != jwa.ES384() {
		t.Fatalf("headers typ=%q kid=%q alg=%v", typ, kid, alg)
	}
	var claims map[string]any
	if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
		t.Fatal(err)
	}
	if claims["jti"] != "transition-7f1c" || claims["iss"] != testIssuer || claims["txn"] != "txn-1" ||
		claims["iat"] != float64(testNow.Unix()-1) || len(claims["aud"].([]any)) != 2 {
		t.Fatalf("claims %v", claims)
	}
	if _, ok := claims["sub"]; ok {
		t.Fatal("signer wrote a sub claim")
	}
}

const time1s = time.Second

func zeroIat(s *SET) { s.IssuedAt = time.Time{} }

func TestSignerDefaultsIatToClock(t *testing.T) {
	f := newFixture(t, "EdDSA")
	f.clock.Step(time.Minute)
	tok, err := f.signer.Sign(newSET(zeroIat))
	if err != nil {
		t.Fatal(err)
	}
	set, err := f.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !set.IssuedAt.Equal(testNow.Add(time.Minute)) {
		t.Fatalf("iat = %v", set.IssuedAt)
	}
}

func TestSignerRefuses(t *testing.T) {
	good := newKey(t, "EdDSA", "k1")
	noKid := withKid(t, good, "")
	hmac, err := jwk.Import([]byte("a shared secret of thirty-two b."))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, hmac, jwk.KeyIDKey, "h")
	mustSet(t, hmac, jwk.AlgorithmKey, jwa.HS256())
	tests := map[string]struct {
		signer Signer
		set    SET
	}{
		"no issuer":        {Signer{Key: good}, newSET()},
		"no kid":           {Signer{Issuer: testIssuer, Key: noKid}, newSET()},
		"HMAC key":         {Signer{Issuer: testIssuer, Key: hmac}, newSET()},
		"no jti":           {Signer{Issuer: testIssuer, Key: good}, newSET(withJTI(""))},
		"no events":        {Signer{Issuer: testIssuer, Key: good}, newSET(func(s *SET) { s.Events = nil })},
		"bad subject":      {Signer{Issuer: testIssuer, Key: good}, newSET(withSubject(&SubjectID{Format: "email"}))},
		"no iat, no clock": {Signer{Issuer: testIssuer, Key: good}, newSET(zeroIat)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := tt.signer.Sign(tt.set); err == nil {
				t.Fatal("Sign succeeded")
			}
		})
	}
}
