package ssf

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	clocktesting "k8s.io/utils/clock/testing"
)

const (
	testIssuer   = "https://idp.example.test/"
	testAudience = "https://portcullis.example.test/ssf"
)

var testNow = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// newKey makes a private signing key for alg with the given kid.
func newKey(t testing.TB, alg, kid string) jwk.Key {
	t.Helper()
	var raw any
	var err error
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, k, jwk.KeyIDKey, kid)
	mustSet(t, k, jwk.AlgorithmKey, alg)
	return k
}

func mustSet(t testing.TB, k jwk.Key, name string, v any) {
	t.Helper()
	if err := k.Set(name, v); err != nil {
		t.Fatal(err)
	}
}

func publicOf(t testing.TB, k jwk.Key) jwk.Key {
	t.Helper()
	pub, err := jwk.PublicKeyOf(k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// fixture is a transmitter (signer) and a receiver (verifier) sharing keys.
type fixture struct {
	clock    *clocktesting.FakeClock
	signer   *Signer
	verifier *Verifier
	replay   *MemoryReplayStore
}

func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	key := newKey(t, alg, "k1")
	keys, err := NewStaticKeySource(publicOf(t, key))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(testNow)
	replay := NewMemoryReplayStore(clk, 1000)
	return &fixture{
		clock:  clk,
		signer: &Signer{Issuer: testIssuer, Key: key, Clock: clk},
		verifier: &Verifier{
			Issuer: testIssuer, Audience: testAudience, Keys: keys, Replay: replay, Clock: clk,
		},
		replay: replay,
	}
}

// setOption changes a SET built by newSET.
type setOption func(*SET)

func withJTI(jti string) setOption { return func(s *SET) { s.JTI = jti } }

func withAudience(aud ...string) setOption { return func(s *SET) { s.Audience = aud } }

func withIssuedAt(t time.Time) setOption { return func(s *SET) { s.IssuedAt = t } }

func withSubject(sub *SubjectID) setOption { return func(s *SET) { s.Subject = sub } }

func withEvent(uri, body string) setOption {
	return func(s *SET) { s.Events = map[string]json.RawMessage{uri: json.RawMessage(body)} }
}

// newSET is a session-revoked SET for alice, issued now.
func newSET(opts ...setOption) SET {
	s := SET{
		Audience: []string{testAudience},
		IssuedAt: testNow,
		JTI:      "4d3559ec67504aaba65d40b0363faad8",
		Subject:  &SubjectID{Format: FormatEmail, Email: "alice@contractor.example"},
		Events: map[string]json.RawMessage{
			EventSessionRevoked: json.RawMessage(`{"event_timestamp": 1772618000, "initiating_entity": "policy"}`),
		},
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func (f *fixture) sign(t testing.TB, opts ...setOption) []byte {
	t.Helper()
	tok, err := f.signer.Sign(newSET(opts...))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
