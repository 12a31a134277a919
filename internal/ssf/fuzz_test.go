package ssf

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	clocktesting "k8s.io/utils/clock/testing"
)

// fuzzKey is deterministic so that every fuzz worker process has the key
// the seeds were signed with.
func fuzzKey(t testing.TB) jwk.Key {
	t.Helper()
	k, err := jwk.Import(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, k, jwk.KeyIDKey, "k1")
	mustSet(t, k, jwk.AlgorithmKey, jwa.EdDSA())
	return k
}

// FuzzVerify feeds arbitrary tokens to a Verifier. It must never panic, and
// it must accept only a token whose signing input (header.payload) is one
// this test signed with the key.
func FuzzVerify(f *testing.F) {
	key := fuzzKey(f)
	keys, err := NewStaticKeySource(publicOf(f, key))
	if err != nil {
		f.Fatal(err)
	}
	signer := &Signer{Issuer: testIssuer, Key: key}
	signed := map[string]bool{}
	add := func(tok []byte) {
		signed[string(tok[:bytes.LastIndexByte(tok, '.')])] = true
		f.Add(tok)
	}
	for _, set := range []SET{
		newSET(),
		newSET(withSubject(&SubjectID{Format: FormatAliases, Identifiers: []SubjectID{
			{Format: FormatEmail, Email: "a@b.example"}, {Format: FormatOpaque, ID: "x"}}})),
		newSET(withEvent(EventAccountDisabled, `{"reason":"hijacking","subject":{"format":"iss_sub","iss":"https://i.example/","sub":"s"}}`)),
		newSET(withEvent(EventDeviceComplianceChange, `{"current_status":"compliant","previous_status":"not-compliant"}`)),
		newSET(withAudience("x", testAudience)),
	} {
		tok, err := signer.Sign(set)
		if err != nil {
			f.Fatal(err)
		}
		add(tok)
	}
	add(signRaw(f, key, jwa.EdDSA(), map[string]any{"kid": "k1"}, validClaims(`"sub":"a","sub_id":{"format":"opaque","id":"1"},`)))
	f.Add(unsigned(`{"alg":"none","kid":"k1"}`, validClaims("")))
	f.Add([]byte("a.b.c"))
	f.Add([]byte(".."))
	f.Add([]byte(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`))

	f.Fuzz(func(t *testing.T, token []byte) {
		clk := clocktesting.NewFakeClock(testNow)
		v := &Verifier{Issuer: testIssuer, Audience: testAudience, Keys: keys,
			Replay: NewMemoryReplayStore(clk, 16), Clock: clk}
		set, err := v.Verify(context.Background(), token)
		if err != nil {
			if strings.Contains(err.Error(), string(token)) && len(token) >= 16 {
				t.Fatalf("error contains the token")
			}
			return
		}
		i := bytes.LastIndexByte(token, '.')
		if i < 0 || !signed[string(token[:i])] {
			t.Fatalf("accepted a token this test did not sign")
		}
		if _, err := set.DecodeEvents(); err != nil {
			t.Fatalf("accepted SET with undecodable events: %v", err)
		}
	})
}

// FuzzParseSubject feeds arbitrary JSON to SubjectID: no panic, and a valid
// identifier names a bounded number of candidates.
func FuzzParseSubject(f *testing.F) {
	for _, seed := range []string{
		`{"format":"email","email":"a@b.example"}`,
		`{"format":"iss_sub","iss":"https://i.example/","sub":"s"}`,
		`{"format":"opaque","id":"x"}`,
		`{"format":"phone_number","phone_number":"+15551234567"}`,
		`{"format":"account","uri":"acct:a@b.example"}`,
		`{"format":"did","uri":"did:example:1"}`,
		`{"format":"uri","uri":"https://b.example/u/1"}`,
		`{"format":"aliases","identifiers":[{"format":"opaque","id":"x"},{"format":"email","email":"a@b.example"}]}`,
		`{"format":"complex","user":{"format":"opaque","id":"x"},"device":{"format":"opaque","id":"d"}}`,
		`{"format":"aliases","identifiers":[{"format":"aliases","identifiers":[]}]}`,
		`{"format":"complex","user":{"format":"complex"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s SubjectID
		if json.Unmarshal(data, &s) != nil {
			return
		}
		err := s.Validate()
		c := s.Candidates()
		if err != nil {
			return
		}
		if len(c) > maxIdentities {
			t.Fatalf("%d candidates", len(c))
		}
		if s.Format != FormatComplex && len(c) == 0 {
			t.Fatalf("valid %s subject names no account", s.Format)
		}
	})
}
