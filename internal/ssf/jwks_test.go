package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	clocktesting "k8s.io/utils/clock/testing"
)

// jwksServer is a transmitter's jwks_uri over TLS whose content can change.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	body    []byte
	status  int
}

func newJWKSServer(t *testing.T, keys ...jwk.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.publish(t, keys...)
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// publish serves the public halves of keys.
func (s *jwksServer) publish(t *testing.T, keys ...jwk.Key) {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(publicOf(t, k)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(b)
}

func (s *jwksServer) serve(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) source(t *testing.T, clk *clocktesting.FakeClock) *JWKS {
	t.Helper()
	j, err := NewJWKS(JWKSConfig{URL: s.srv.URL + "/jwks.json", Client: s.srv.Client(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJWKSRotation(t *testing.T) {
	f := newFixture(t, "ES256")
	oldKey := f.signer.Key
	srv := newJWKSServer(t, oldKey)
	f.verifier.Keys = srv.source(t, f.clock)
	ctx := context.Background()

	if _, err := f.verifier.Verify(ctx, f.sign(t, withJTI("1"))); err != nil {
		t.Fatalf("first SET: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}

	// The transmitter rotates to k2 and signs with it at once.
	newKeyK2 := newKey(t, "ES256", "k2")
	srv.publish(t, newKeyK2)
	f.signer.Key = newKeyK2
	f.clock.Step(DefaultRefreshInterval)
	if _, err := f.verifier.Verify(ctx, f.sign(t, withJTI("2"))); err != nil {
		t.Fatalf("SET after rotation: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (one refresh)", n)
	}
	// The retired key is gone from the cache.
	f.signer.Key = oldKey
	_, err := f.verifier.Verify(ctx, f.sign(t, withJTI("3")))
	wantCode(t, err, CodeInvalidKey)
}

func TestJWKSUnknownKidFloodIsRateLimited(t *testing.T) {
	clk := clocktesting.NewFakeClock(testNow)
	srv := newJWKSServer(t, newKey(t, "EdDSA", "k1"))
	src := srv.source(t, clk)
	ctx := context.Background()
	if _, err := src.Key(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		for i := range 500 {
			if _, err := src.Key(ctx, fmt.Sprintf("made-up-%d-%d", round, i)); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("want ErrUnknownKey, got %v", err)
			}
		}
		if n := srv.fetches.Load(); n != int32(round) {
			t.Fatalf("round %d: fetches = %d, want %d", round, n, round)
		}
		clk.Step(DefaultRefreshInterval)
	}
}

func TestJWKSFailuresAreRetryableAndBounded(t *testing.T) {
	ed := newKey(t, "EdDSA", "k1")
	tooMany := make([]jwk.Key, MaxJWKSKeys+1)
	for i := range tooMany {
		tooMany[i] = newKey(t, "EdDSA", fmt.Sprintf("k%d", i))
	}
	tests := map[string]func(*testing.T, *jwksServer){
		"not JSON": func(_ *testing.T, s *jwksServer) { s.serve([]byte("<html>")) },
		"oversized": func(_ *testing.T, s *jwksServer) {
			s.serve([]byte(`{"keys":[],"pad":"` + strings.Repeat("a", MaxJWKSBytes) + `"}`))
		},
		"too many keys": func(t *testing.T, s *jwksServer) { s.publish(t, tooMany...) },
		"HTTP 500": func(_ *testing.T, s *jwksServer) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.status = http.StatusInternalServerError
		},
		"duplicate kid": func(t *testing.T, s *jwksServer) { s.publish(t, ed, newKey(t, "ES256", "k1")) },
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newJWKSServer(t, ed)
			breakIt(t, srv)
			clk := clocktesting.NewFakeClock(testNow)
			if _, err := srv.source(t, clk).Key(context.Background(), "k1"); !errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("want ErrKeysUnavailable, got %v", err)
			}
		})
	}
}

func TestJWKSKeepsSigningKeysOnly(t *testing.T) {
	enc := newKey(t, "RS256", "enc")
	mustSet(t, enc, jwk.KeyUsageKey, "enc")
	sig := newKey(t, "ES256", "sig")
	mustSet(t, sig, jwk.KeyUsageKey, "sig")
	noUse := newKey(t, "EdDSA", "nouse")
	oct, err := jwk.Import([]byte("a shared secret of thirty-two b."))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, oct, jwk.KeyIDKey, "oct")
	srv := newJWKSServer(t, enc, sig, noUse)
	set := jwk.NewSet()
	for _, k := range []jwk.Key{publicOf(t, enc), publicOf(t, sig), publicOf(t, noUse), oct} {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(set)
	srv.serve(b)
	src := srv.source(t, clocktesting.NewFakeClock(testNow))
	for kid, want := range map[string]bool{"enc": false, "sig": true, "nouse": true, "oct": false} {
		k, err := src.Key(context.Background(), kid)
		if got := err == nil; got != want {
			t.Fatalf("kid %s: usable=%v want %v (%v)", kid, got, want, err)
		}
		if err == nil {
			if priv, _ := jwk.IsPrivateKey(k); priv {
				t.Fatalf("kid %s: private key kept", kid)
			}
		}
	}
}

func TestNewJWKSConfig(t *testing.T) {
	clk := clocktesting.NewFakeClock(testNow)
	for _, cfg := range []JWKSConfig{
		{URL: "http://idp.example/jwks", Client: http.DefaultClient, Clock: clk},
		{URL: "https://idp.example/jwks", Clock: clk},
		{URL: "https://idp.example/jwks", Client: http.DefaultClient},
		{URL: "::", Client: http.DefaultClient, Clock: clk},
	} {
		if _, err := NewJWKS(cfg); err == nil {
			t.Fatalf("config %+v accepted", cfg)
		}
	}
	j, err := NewJWKS(JWKSConfig{URL: "https://idp.example/jwks", Client: http.DefaultClient, Clock: clk})
	if err != nil || j.cfg.RefreshInterval != time.Minute || j.cfg.Timeout != DefaultFetchTimeout {
		t.Fatalf("defaults: %+v %v", j, err)
	}
}

func TestStaticKeySource(t *testing.T) {
	k := newKey(t, "EdDSA", "k1")
	src, err := NewStaticKeySource(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.Key(context.Background(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	if priv, _ := jwk.IsPrivateKey(got); priv {
		t.Fatal("static source keeps private keys")
	}
	if _, err := src.Key(context.Background(), "k2"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if _, err := NewStaticKeySource(k, newKey(t, "ES256", "k1")); err == nil {
		t.Fatal("duplicate kid accepted")
	}
}

// A caller that hangs up during the fetch its unknown kid caused does not
// make a failure that holds the transmitter's new key out for an interval.
func TestJWKSFetchOutlivesItsCaller(t *testing.T) {
	clk := clocktesting.NewFakeClock(testNow)
	k1, k2 := newKey(t, "ES256", "k1"), newKey(t, "ES256", "k2")
	srv := newJWKSServer(t, k1)
	j := srv.source(t, clk)
	if _, err := j.Key(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	srv.publish(t, k1, k2)
	clk.Step(time.Minute)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Key(gone, "bogus"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a made-up kid from a caller that hung up: %v, want ErrUnknownKey after a fetch that went through", err)
	}
	if _, err := j.Key(context.Background(), "k2"); err != nil {
		t.Fatalf("the rotated key, fetched for the caller that hung up: %v", err)
	}
}

// A known kid never waits for a fetch that an unknown one started.
func TestJWKSKnownKeyDoesNotWaitForAFetch(t *testing.T) {
	clk := clocktesting.NewFakeClock(testNow)
	k1 := newKey(t, "ES256", "k1")
	srv := newJWKSServer(t, k1)
	j := srv.source(t, clk)
	if _, err := j.Key(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	inFetch, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(inFetch)
		<-release
		srv.mu.Lock()
		defer srv.mu.Unlock()
		_, _ = w.Write(srv.body)
	}))
	defer slow.Close()
	defer close(release)
	j.cfg.URL, j.client = slow.URL, slow.Client()
	clk.Step(time.Minute)
	go func() { _, _ = j.Key(context.Background(), "bogus") }()
	<-inFetch
	if _, err := j.Key(context.Background(), "k1"); err != nil {
		t.Fatalf("a known kid while a fetch hangs: %v", err)
	}
}

// Redirects are followed to https only: a hop to http could swap the keys.
func TestJWKSRefusesARedirectToHTTP(t *testing.T) {
	clk := clocktesting.NewFakeClock(testNow)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the JWKS was fetched over http")
	}))
	defer plain.Close()
	redirecting := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/jwks.json", http.StatusFound))
	defer redirecting.Close()
	j, err := NewJWKS(JWKSConfig{URL: redirecting.URL + "/jwks.json?token=s3cret", Client: redirecting.Client(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.Key(context.Background(), "k1")
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("a redirect to http: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error carries the URL's query: %v", err)
	}
}
