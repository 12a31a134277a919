package ssf

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// signRaw signs arbitrary claims with arbitrary extra protected headers.
func signRaw(t testing.TB, key jwk.Key, alg jwa.SignatureAlgorithm, headers map[string]any, claims string) []byte {
	t.Helper()
	hdr := jws.NewHeaders()
	for k, v := range headers {
		if err := hdr.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign([]byte(claims), jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned builds a compact JWS with the given header and an empty signature.
func unsigned(header, claims string) []byte {
	enc := base64.RawURLEncoding
	return []byte(enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + ".")
}

func validClaims(extra string) string {
	return `{"iss":"` + testIssuer + `","aud":"` + testAudience + `","iat":` +
		jsonInt(testNow.Unix()) + `,"jti":"raw-1",` + extra +
		`"events":` + validEvents + `}`
}

// validEvents are the events of validClaims: one session-revoked event
// that names its subject.
const validEvents = `{"` + EventSessionRevoked + `":{"subject":{"format":"opaque","id":"u-1"}}}`

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("want *Error %s, got %v", code, err)
	}
	if se.Code != code {
		t.Fatalf("want code %s, got %s (%s)", code, se.Code, se.Description)
	}
}

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			set, err := f.verifier.Verify(context.Background(), f.sign(t))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if set.Issuer != testIssuer || set.JTI != "4d3559ec67504aaba65d40b0363faad8" ||
				!set.IssuedAt.Equal(testNow) || set.Subject.Email != "alice@contractor.example" {
				t.Fatalf("unexpected SET %+v", set)
			}
			evs, err := set.DecodeEvents()
			if err != nil || len(evs) != 1 || evs[0].Subject != set.Subject {
				t.Fatalf("events %+v, %v", evs, err)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t, "ES256")
	key := f.signer.Key
	kid := map[string]any{"kid": "k1"}
	other := newKey(t, "ES256", "k1") // same kid, different key
	rsaKey := newKey(t, "RS256", "k1")
	pemPub, err := jwk.Pem(publicOf(t, rsaKey))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token func() []byte
		code  string
	}{
		{"bad signature", func() []byte { return signRaw(t, other, jwa.ES256(), kid, validClaims("")) }, CodeAuthenticationFailed},
		{"tampered payload", func() []byte {
			parts := bytes.Split(f.sign(t), []byte("."))
			parts[1] = []byte(base64.RawURLEncoding.EncodeToString([]byte(validClaims(`"x":1,`))))
			return bytes.Join(parts, []byte("."))
		}, CodeAuthenticationFailed},
		{"unknown kid", func() []byte {
			return signRaw(t, withKid(t, key, "k9"), jwa.ES256(), nil, validClaims(""))
		}, CodeInvalidKey},
		{"no kid", func() []byte { return signRaw(t, withKid(t, key, ""), jwa.ES256(), nil, validClaims("")) }, CodeInvalidKey},
		{"alg none", func() []byte { return unsigned(`{"alg":"none","kid":"k1"}`, validClaims("")) }, CodeAuthenticationFailed},
		{"alg None", func() []byte { return unsigned(`{"alg":"None","kid":"k1"}`, validClaims("")) }, CodeInvalidRequest},
		{"HS256 with the public key as secret", func() []byte {
			return signRaw(t, mustImport(t, pemPub), jwa.HS256(), kid, validClaims(""))
		}, CodeAuthenticationFailed},
		{"key type does not fit alg", func() []byte { return signRaw(t, rsaKey, jwa.RS256(), kid, validClaims("")) }, CodeInvalidKey},
		{"typ not secevent", func() []byte {
			return signRaw(t, key, jwa.ES256(), map[string]any{"kid": "k1", "typ": "JWT"}, validClaims(""))
		}, CodeInvalidRequest},
		{"crit header", func() []byte {
			return signRaw(t, key, jwa.ES256(), map[string]any{"kid": "k1", "crit": []string{"exp"}, "exp": 1}, validClaims(""))
		}, CodeInvalidRequest},
		{"wrong iss", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, strings.Replace(validClaims(""), testIssuer, "https://evil.example/", 1))
		}, CodeInvalidIssuer},
		{"wrong aud", func() []byte { return f.sign(t, withAudience("https://other.example/")) }, CodeInvalidAudience},
		{"no aud", func() []byte { return f.sign(t, withAudience()) }, CodeInvalidAudience},
		{"iat too old", func() []byte { return f.sign(t, withIssuedAt(testNow.Add(-61*time.Minute))) }, CodeInvalidRequest},
		{"iat in the future", func() []byte { return f.sign(t, withIssuedAt(testNow.Add(6*time.Minute))) }, CodeInvalidRequest},
		{"no iat", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, strings.Replace(validClaims(""), `"iat"`, `"nbf"`, 1))
		}, CodeInvalidRequest},
		{"exp past", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, validClaims(`"exp":`+jsonInt(testNow.Unix()-1)+`,`))
		}, CodeInvalidRequest},
		{"no jti", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, strings.Replace(validClaims(""), `"jti"`, `"xjti"`, 1))
		}, CodeInvalidRequest},
		{"no events", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","iat":`+jsonInt(testNow.Unix())+`,"jti":"a"}`)
		}, CodeInvalidRequest},
		{"empty events", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, strings.Replace(validClaims(""), validEvents, `{}`, 1))
		}, CodeInvalidRequest},
		{"event not an object", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, strings.Replace(validClaims(""), validEvents, `{"`+EventSessionRevoked+`":"x"}`, 1))
		}, CodeInvalidRequest},
		{"malformed known event", func() []byte {
			return f.sign(t, withEvent(EventDeviceComplianceChange, `{"current_status":"maybe","previous_status":"compliant"}`))
		}, CodeInvalidRequest},
		{"sub without sub_id", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, validClaims(`"sub":"alice",`))
		}, CodeInvalidRequest},
		{"invalid sub_id", func() []byte {
			return signRaw(t, key, jwa.ES256(), kid, validClaims(`"sub_id":{"format":"email","email":"not an address"},`))
		}, CodeInvalidRequest},
		{"claims not an object", func() []byte { return signRaw(t, key, jwa.ES256(), kid, `[1,2]`) }, CodeInvalidRequest},
		{"not a JWS", func() []byte { return []byte("hello") }, CodeInvalidRequest},
		{"JSON serialization", func() []byte { return []byte(`{"payload":"e30","signatures":[]}`) }, CodeInvalidRequest},
		{"oversized", func() []byte {
			return f.sign(t, withEvent(EventSessionRevoked, `{"pad":"`+strings.Repeat("a", DefaultMaxBytes)+`"}`))
		}, CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token()
			_, err := f.verifier.Verify(context.Background(), tok)
			wantCode(t, err, tt.code)
			assertNoSecrets(t, err, tok)
		})
	}
}

// withKid returns a copy of key with another kid, or none when kid is "".
func withKid(t *testing.T, key jwk.Key, kid string) jwk.Key {
	t.Helper()
	b, err := json.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if kid == "" {
		if err := k.Remove(jwk.KeyIDKey); err != nil {
			t.Fatal(err)
		}
		return k
	}
	mustSet(t, k, jwk.KeyIDKey, kid)
	return k
}

func mustImport(t *testing.T, secret []byte) jwk.Key {
	t.Helper()
	k, err := jwk.Import(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertNoSecrets checks that the error names neither the token nor any of
// its segments.
func assertNoSecrets(t *testing.T, err error, tok []byte) {
	t.Helper()
	msg := err.Error()
	for _, part := range append(bytes.Split(tok, []byte(".")), tok) {
		if len(part) >= 16 && strings.Contains(msg, string(part)) {
			t.Fatalf("error %q contains the token", msg)
		}
	}
}

func TestVerifyAcceptsRFCVariants(t *testing.T) {
	f := newFixture(t, "ES256")
	key := f.signer.Key
	tests := []struct {
		name    string
		headers map[string]any
		claims  string
		check   func(*SET) bool
	}{
		{"no typ", map[string]any{"kid": "k1"}, validClaims(""), nil},
		{"typ with application/ prefix", map[string]any{"kid": "k1", "typ": "application/secevent+jwt"}, validClaims(""), nil},
		{"aud array", map[string]any{"kid": "k1"}, strings.Replace(validClaims(""), `"aud":"`+testAudience+`"`, `"aud":["x","`+testAudience+`"]`, 1),
			func(s *SET) bool { return len(s.Audience) == 2 }},
		{"numeric txn", map[string]any{"kid": "k1"}, validClaims(`"txn":8675309,`), func(s *SET) bool { return s.TxnID == "8675309" }},
		{"sub with sub_id", map[string]any{"kid": "k1"}, validClaims(`"sub":"x","sub_id":{"format":"opaque","id":"u-1"},`),
			func(s *SET) bool { return s.Subject.ID == "u-1" }},
		{"unknown event type kept", map[string]any{"kid": "k1"}, strings.Replace(validClaims(""), EventSessionRevoked, "https://example.test/ev", 1),
			func(s *SET) bool { evs, err := s.DecodeEvents(); return err == nil && evs[0].Body == nil }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := strings.Replace(tt.claims, `"jti":"raw-1"`, `"jti":"raw-`+jsonInt(int64(i))+`"`, 1)
			set, err := f.verifier.Verify(context.Background(), signRaw(t, key, jwa.ES256(), tt.headers, claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.check != nil && !tt.check(set) {
				t.Fatalf("unexpected SET %+v", set)
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	f := newFixture(t, "EdDSA")
	ctx := context.Background()
	tok := f.sign(t)
	set, err := f.verifier.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	// Verify records nothing: a SET not yet acted on may come again.
	if _, err := f.verifier.Verify(ctx, tok); err != nil {
		t.Fatalf("second Verify before Accept: %v", err)
	}
	if err := f.verifier.Accept(ctx, set); err != nil {
		t.Fatal(err)
	}
	// Once accepted, a replay is refused, and cannot be accepted twice.
	_, err = f.verifier.Verify(ctx, tok)
	wantCode(t, err, CodeInvalidRequest)
	wantCode(t, f.verifier.Accept(ctx, set), CodeInvalidRequest)
	if !strings.Contains(err.Error(), "replay") {
		t.Fatalf("description should say replay: %v", err)
	}
	// A SET refused for another reason does not use up its jti.
	if _, err := f.verifier.Verify(context.Background(), f.sign(t, withJTI("j2"), withAudience("nope"))); err == nil {
		t.Fatal("wrong audience accepted")
	}
	if _, err := f.verifier.Verify(context.Background(), f.sign(t, withJTI("j2"))); err != nil {
		t.Fatalf("j2 after a refused j2: %v", err)
	}
	// Past the window the SET is refused by its iat, not forgotten.
	f.clock.Step(DefaultMaxAge + 2*time.Second)
	_, err = f.verifier.Verify(context.Background(), tok)
	wantCode(t, err, CodeInvalidRequest)
}

func TestVerifyReplayStoreFullIsRetryable(t *testing.T) {
	f := newFixture(t, "EdDSA")
	f.verifier.Replay = NewMemoryReplayStore(f.clock, 1)
	ctx := context.Background()
	set, err := f.verifier.Verify(ctx, f.sign(t, withJTI("a")))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.verifier.Accept(ctx, set); err != nil {
		t.Fatal(err)
	}
	// Full: Verify says so before the receiver acts, and Accept refuses too.
	set, err = f.verifier.Verify(ctx, f.sign(t, withJTI("b")))
	var se *Error
	if !errors.Is(err, ErrReplayStoreFull) || errors.As(err, &se) {
		t.Fatalf("want a plain ErrReplayStoreFull, got %v %v", set, err)
	}
	b := newSET(withJTI("b"))
	b.Issuer = testIssuer
	if err := f.verifier.Accept(ctx, &b); !errors.Is(err, ErrReplayStoreFull) || errors.As(err, &se) {
		t.Fatalf("Accept: want a plain ErrReplayStoreFull, got %v", err)
	}
}

func TestVerifyMisconfigured(t *testing.T) {
	f := newFixture(t, "EdDSA")
	f.verifier.Audience = ""
	_, err := f.verifier.Verify(context.Background(), f.sign(t))
	var se *Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("want a configuration error, got %v", err)
	}
}

func TestErrorJSON(t *testing.T) {
	b, err := json.Marshal(newError(CodeInvalidKey, "no signing key with this kid"))
	if err != nil || string(b) != `{"err":"invalid_key","description":"no signing key with this kid"}` {
		t.Fatalf("%s %v", b, err)
	}
}

// One SET, one subject: an event that names another subject than sub_id,
// or a SET whose events name none, is refused.
func TestVerifyRefusesConflictingOrMissingSubjects(t *testing.T) {
	f := newFixture(t, "ES256")
	ctx := context.Background()
	bob := `{"subject":{"format":"email","email":"bob@vendor.example"},"reason":"hijacking"}`
	_, err := f.verifier.Verify(ctx, f.sign(t, withEvent(EventAccountDisabled, bob)))
	wantCode(t, err, CodeInvalidRequest)
	_, err = f.verifier.Verify(ctx, f.sign(t, withSubject(nil), withEvent(EventAccountDisabled, `{"reason":"hijacking"}`)))
	wantCode(t, err, CodeInvalidRequest)
	if _, err := f.verifier.Verify(ctx, f.sign(t, withSubject(nil), withEvent(EventAccountDisabled, bob))); err != nil {
		t.Errorf("an event that names its subject, without sub_id: %v", err)
	}
}
