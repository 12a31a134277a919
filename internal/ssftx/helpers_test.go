package ssftx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/test/syncbuf"
)

// Secrets the tests look for in logs, errors and answers.
const (
	aliceToken = "alice-token-7c1e0b9d4a"
	bobToken   = "bob-token-52f8aa61c3"
	pushToken  = "push-secret-e3b0c44298"
)

type fixture struct {
	t    *testing.T
	ns   string
	k8s  client.Client
	cfg  Config
	tx   atomic.Pointer[Transmitter]
	srv  *httptest.Server
	logs *syncbuf.Buffer
}

type option func(*Config)

// newFixture makes a namespace with a keys Secret (kid k1) and a tokens
// Secret (alice, bob), and serves a Transmitter over HTTPS.
func newFixture(t *testing.T, opts ...option) *fixture {
	t.Helper()
	k8s, err := client.New(restConfig, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ns: "ssftx-" + randomHex(4), k8s: k8s, logs: &syncbuf.Buffer{}}
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ssf-keys", Namespace: f.ns},
		Data: map[string][]byte{"k1.pem": ecKeyPEM(t)}})
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ssf-receivers", Namespace: f.ns},
		Data: map[string][]byte{"alice": []byte(aliceToken), "bob": []byte(bobToken + "\n")}})
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.tx.Load().Handler().ServeHTTP(w, r)
	}))
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	f.cfg = Config{
		Issuer: f.srv.URL, Namespace: f.ns, Client: k8s, Reader: k8s, Clock: clock.RealClock{},
		KeysSecret:   types.NamespacedName{Namespace: f.ns, Name: "ssf-keys"},
		TokensSecret: types.NamespacedName{Namespace: f.ns, Name: "ssf-receivers"},
		HTTPClient:   HTTPClientOptions{RootCAs: pool, AllowPrivateEndpoints: true},
		Limits: Limits{SecretRefresh: 50 * time.Millisecond, BackoffInitial: 20 * time.Millisecond,
			BackoffMax: 100 * time.Millisecond, RescanInterval: 200 * time.Millisecond, LongPollTimeout: time.Second},
		Metrics: metrics,
	}
	for _, o := range opts {
		o(&f.cfg)
	}
	f.restart()
	return f
}

// restart replaces the Transmitter by a new one over the same API server.
func (f *fixture) restart() *Transmitter {
	f.t.Helper()
	tx, err := New(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.tx.Store(tx)
	return tx
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := f.k8s.Create(context.Background(), obj); err != nil {
		f.t.Fatal(err)
	}
}

// startDeliverer runs the current Transmitter's Deliverer until the test
// ends, logging into f.logs.
func (f *fixture) startDeliverer() {
	log := funcr.New(func(prefix, args string) { _, _ = io.WriteString(f.logs, prefix+" "+args+"\n") }, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- f.tx.Load().Deliverer().Start(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("deliverer: %v", err)
		}
	})
}

// do sends an API request with token (none when empty) and returns the
// status and body.
func (f *fixture) do(method, path, token string, body any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// must sends a request and fails unless it is answered want; it decodes
// the body into v when v is not nil.
func (f *fixture) must(want int, method, path, token string, body, v any) {
	f.t.Helper()
	code, out := f.do(method, path, token, body)
	if code != want {
		f.t.Fatalf("%s %s: got %d %s, want %d", method, path, code, out, want)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
}

// createStream creates a stream for the token's receiver: push to
// endpoint, or poll when endpoint is empty; every supported event.
func (f *fixture) createStream(token, endpoint string) ssf.StreamConfig {
	f.t.Helper()
	delivery := ssf.StreamDelivery{Method: ssf.MethodPoll}
	if endpoint != "" {
		delivery = ssf.StreamDelivery{Method: ssf.MethodPush, EndpointURL: endpoint, AuthorizationHeader: "Bearer " + pushToken}
	}
	req := map[string]any{"delivery": delivery, "events_requested": supportedEvents}
	var cfg ssf.StreamConfig
	f.must(http.StatusCreated, http.MethodPost, PathStream, token, req, &cfg)
	return cfg
}

func (f *fixture) status(id string) statusResponse {
	f.t.Helper()
	var st statusResponse
	f.must(http.StatusOK, http.MethodGet, PathStatus+"?stream_id="+id, aliceToken, nil, &st)
	return st
}

func (f *fixture) setStatus(id, status string) {
	f.t.Helper()
	f.must(http.StatusOK, http.MethodPost, PathStatus, aliceToken, ssf.StreamStatus{StreamID: id, Status: status}, nil)
}

// receiver is a receiving party built from internal/ssf: a PushHandler on
// an HTTPS server (or a Poller) with a Verifier over the transmitter's JWKS.
type receiver struct {
	verifier *ssf.Verifier
	srv      *httptest.Server
	// unavailable is how many more push requests to answer 503.
	unavailable atomic.Int32
	requests    atomic.Int32

	mu   sync.Mutex
	sets []*ssf.SET
}

// Receive implements ssf.Sink.
func (r *receiver) Receive(_ context.Context, set *ssf.SET) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, set)
	return nil
}

// received lists "event type|jti" of the SETs received, in order.
func (r *receiver) received() []*ssf.SET {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*ssf.SET(nil), r.sets...)
}

func eventTypes(sets []*ssf.SET) []string {
	var out []string
	for _, s := range sets {
		for typ := range s.Events {
			out = append(out, typ)
		}
	}
	return out
}

// newReceiver makes a receiver whose Verifier expects audience.
func (f *fixture) newReceiver(audience string) *receiver {
	f.t.Helper()
	jwks, err := ssf.NewJWKS(ssf.JWKSConfig{URL: f.srv.URL + PathJWKS, Client: f.srv.Client(), Clock: clock.RealClock{},
		RefreshInterval: 50 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	r := &receiver{verifier: &ssf.Verifier{Issuer: f.cfg.Issuer, Audience: audience, Keys: jwks,
		Replay: ssf.NewMemoryReplayStore(clock.RealClock{}, 0), Clock: clock.RealClock{}}}
	return r
}

// newPushReceiver serves r with a PushHandler over HTTPS.
func (f *fixture) newPushReceiver(audience string) *receiver {
	f.t.Helper()
	r := f.newReceiver(audience)
	h, err := ssf.NewPushHandler(ssf.PushConfig{Verifier: r.verifier, Sink: r, Token: pushToken})
	if err != nil {
		f.t.Fatal(err)
	}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if r.unavailable.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, req)
	}))
	f.t.Cleanup(r.srv.Close)
	return r
}

// assertNoSecrets fails if a token or the push authorization appears in s.
func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{aliceToken, bobToken, pushToken} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains a secret: %s", what, s)
		}
	}
}

func ecKeyPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func rsaKeyPEM(t *testing.T, bits int) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits) //nolint:gosec // a short key is what the test refuses
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func ed25519KeyPEM(t *testing.T) []byte {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
