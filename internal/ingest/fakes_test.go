package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// The tests run at a fixed time; events are an hour old.
var (
	now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	t0  = now.Add(-time.Hour)
)

// memStore keeps contractors in memory for the server's tests; the store
// of the API server is tested against a real one in store_test.go. When
// hold is set, reading a contractor says so on entered and waits for
// hold to close, so a test can keep a request in flight.
type memStore struct {
	mu          sync.Mutex
	contractors map[types.NamespacedName]*accessv1alpha1.Contractor
	entered     chan struct{}
	hold        chan struct{}
}

func newMemStore(names ...string) *memStore {
	s := &memStore{contractors: map[types.NamespacedName]*accessv1alpha1.Contractor{}}
	for _, name := range names {
		key, _ := signals.ParseKey(name)
		s.contractors[key] = &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	}
	return s
}

// holdReads makes the next contractor reads wait until the returned
// function is called.
func (s *memStore) holdReads() (entered <-chan struct{}, release func()) {
	s.entered, s.hold = make(chan struct{}, 16), make(chan struct{})
	return s.entered, func() { close(s.hold) }
}

func (s *memStore) ContractorsByAccount(context.Context, string, string) ([]types.NamespacedName, error) {
	return nil, nil
}

func (s *memStore) Contractor(_ context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, error) {
	if s.hold != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.contractors[key]; c != nil {
		return c.DeepCopy(), nil
	}
	return nil, nil
}

func (s *memStore) SaveSignIns(_ context.Context, c *accessv1alpha1.Contractor, summary *accessv1alpha1.SignInSummary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c = c.DeepCopy()
	c.Status.SignIns = summary
	s.contractors[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] = c
	return nil
}

func (s *memStore) total(name string) int64 {
	key, _ := signals.ParseKey(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.contractors[key]; c != nil && c.Status.SignIns != nil {
		return c.Status.SignIns.Total
	}
	return 0
}

func (s *memStore) Finding(context.Context, types.NamespacedName, bool) (*accessv1alpha1.Finding, error) {
	return nil, nil
}

func (s *memStore) CountFindings(context.Context, types.NamespacedName) (int, error) { return 0, nil }

func (s *memStore) CreateFinding(context.Context, *accessv1alpha1.Finding) error { return nil }

func (s *memStore) UpdateFinding(context.Context, *accessv1alpha1.Finding) error { return nil }

func (s *memStore) Contractors(context.Context) ([]accessv1alpha1.Contractor, error) { return nil, nil }

// secretReader serves the token Secret, and counts its reads.
type secretReader struct {
	client.Reader
	mu     sync.Mutex
	tokens map[string][]byte
	err    error
	gets   int
}

func (r *secretReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets++
	if r.err != nil {
		return r.err
	}
	obj.(*corev1.Secret).Data = r.tokens
	return nil
}

func (r *secretReader) set(tokens ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = map[string][]byte{}
	for i, t := range tokens {
		r.tokens[fmt.Sprint("t", i)] = []byte(t)
	}
}

// fixture is a server over a memStore, with the tokens "token-a" and
// "token-b", a fake clock and the options applied.
type fixture struct {
	srv     *Server
	store   *memStore
	secret  *secretReader
	clock   *clocktesting.FakeClock
	handler http.Handler
}

func newFixture(t testing.TB, store *memStore, opts ...func(*Server)) *fixture {
	t.Helper()
	enricher, err := signals.OpenEnricher(signals.EnricherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(now)
	secret := &secretReader{}
	secret.set("token-a", "token-b")
	srv := &Server{
		Ingester: signals.NewIngester(store, enricher, signals.IngesterOptions{Clock: clk}),
		Tokens:   &Tokens{Reader: secret, Secret: types.NamespacedName{Namespace: "ns", Name: "tokens"}, Refresh: 10 * time.Second, Clock: clk},
		Clock:    clk,
	}
	for _, o := range opts {
		o(srv)
	}
	return &fixture{srv: srv, store: store, secret: secret, clock: clk, handler: srv.Handler(logr.Discard())}
}

// counting is a request body that counts the bytes the server read.
type counting struct {
	r    io.Reader
	read atomic.Int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// post sends body with token; size is the Content-Length to declare, -1
// for none (chunked).
func (f *fixture) post(token string, body io.Reader, size int64) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, body)
	req.ContentLength = size
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	return w
}

// postEvents sends NDJSON lines with token, declaring their length.
func (f *fixture) postEvents(token string, lines ...string) *httptest.ResponseRecorder {
	body := strings.Join(lines, "\n")
	return f.post(token, strings.NewReader(body), int64(len(body)))
}

func signIn(contractor, ip string, at time.Time) string {
	return fmt.Sprintf(`{"contractor":%q,"ip":%q,"time":%q}`, contractor, ip, at.Format(time.RFC3339))
}
