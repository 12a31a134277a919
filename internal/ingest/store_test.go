package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/ingest"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// liveReader is the API reader of the store under test: it counts the
// live GETs by key.
type liveReader struct {
	client.Reader
	mu   sync.Mutex
	gets map[types.NamespacedName]int
}

func (r *liveReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.mu.Lock()
	r.gets[key]++
	r.mu.Unlock()
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r *liveReader) getsExcept(known types.NamespacedName) map[types.NamespacedName]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[types.NamespacedName]int{}
	for k, n := range r.gets {
		if k != known {
			out[k] = n
		}
	}
	return out
}

// TestStoreResolvesUnknownContractorsFromTheCache sends batches full of
// contractors and accounts that do not exist, and a path as a contractor,
// through the endpoint over a real API server: each is rejected by its
// index, the known contractor's events are stored, and no unknown name
// costs a live GET.
func TestStoreResolvesUnknownContractorsFromTheCache(t *testing.T) {
	ctx := t.Context()
	k8s, mgr := startWithManager(t)

	kim := types.NamespacedName{Namespace: "signins", Name: "kim"}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kim.Namespace}},
		&accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: kim.Namespace, Name: kim.Name},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: "Kim", Email: "kim@contractors.example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: "okta", ID: "kim@contractors.example.com"}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kim.Namespace, Name: "tokens"},
			Data: map[string][]byte{"siem": []byte("s3cret")}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	waitForCache(t, mgr.GetClient(), kim)

	live := &liveReader{Reader: mgr.GetAPIReader(), gets: map[types.NamespacedName]int{}}
	enricher, err := signals.OpenEnricher(signals.EnricherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &ingest.Server{
		Ingester: signals.NewIngester(ingest.NewStore(mgr.GetClient(), live), enricher, signals.IngesterOptions{}),
		Tokens: &ingest.Tokens{Reader: k8s, Secret: types.NamespacedName{Namespace: kim.Namespace, Name: "tokens"},
			Refresh: time.Minute, Clock: clock.RealClock{}},
	}
	handler := srv.Handler(logr.Discard())

	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	for batch := range 2 {
		lines := hostileBatch(batch, at.Add(time.Duration(batch)*time.Minute))
		res := postLines(t, handler, "s3cret", lines)
		if res.Accepted != 2 || len(res.Rejected) != len(lines)-2 || res.Rejected[0].Index != 1 ||
			!strings.Contains(res.Rejected[0].Error, "must be namespace/name") {
			t.Fatalf("batch %d: accepted %d, %d rejected, first %+v", batch, res.Accepted, len(res.Rejected), res.Rejected[0])
		}
	}
	if gets := live.getsExcept(kim); len(gets) != 0 {
		t.Errorf("live GETs of contractors that do not exist: %v", gets)
	}
	var stored accessv1alpha1.Contractor
	if err := k8s.Get(ctx, kim, &stored); err != nil {
		t.Fatal(err)
	}
	if s := stored.Status.SignIns; s == nil || s.Total != 4 {
		t.Errorf("kim's sign-ins = %+v", s)
	}
}

// hostileBatch is kim's sign-in by name and by account, a path as
// contractor, and 900 events naming contractors and accounts that do not
// exist, all at.
func hostileBatch(batch int, at time.Time) []string {
	ts := at.Format(time.RFC3339)
	lines := []string{
		fmt.Sprintf(`{"contractor":"signins/kim","ip":"203.0.113.7","time":%q}`, ts),
		fmt.Sprintf(`{"contractor":"../etc","ip":"203.0.113.7","time":%q}`, ts),
		fmt.Sprintf(`{"account":{"system":"okta","id":"kim@contractors.example.com"},"ip":"203.0.113.8","time":%q}`, ts),
	}
	for i := range 300 {
		lines = append(lines,
			fmt.Sprintf(`{"contractor":"signins/nobody-%d-%d","ip":"203.0.113.9","time":%q}`, batch, i, ts),
			fmt.Sprintf(`{"contractor":"ghost-%d/x","ip":"203.0.113.9","time":%q}`, i, ts),
			fmt.Sprintf(`{"account":{"system":"okta","id":"ghost-%d"},"ip":"203.0.113.9","time":%q}`, i, ts))
	}
	return lines
}

// postLines posts NDJSON lines and returns the result of a 200.
func postLines(t *testing.T, handler http.Handler, token string, lines []string) signals.Result {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, ingest.Path, strings.NewReader(strings.Join(lines, "\n")))
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, req)
	var res signals.Result
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	return res
}

// startAPIServer starts etcd and kube-apiserver with the CRDs, from
// $KUBEBUILDER_ASSETS or the directory that `make controlplane` builds.
func startAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = devenv.ControlPlaneDir(filepath.Join("..", ".."))
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
			t.Fatalf("no kube-apiserver in %s and KUBEBUILDER_ASSETS is not set: run `make controlplane` once, or the tests with `make test`", dir)
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: dir,
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = 2 * time.Minute // a loaded machine starts kube-apiserver slowly
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return cfg
}

// startManager starts a manager with the cache and the field indexes the
// store needs, as the manager command configures it.
// startWithManager starts an API server and a manager with the field
// indexes on it, and returns a client of the API server and the manager.
func startWithManager(t *testing.T) (client.Client, ctrl.Manager) {
	t.Helper()
	cfg := startAPIServer(t)
	scheme, err := manager.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return k8s, startManager(t, cfg)
}

func startManager(t *testing.T, cfg *rest.Config) ctrl.Manager {
	t.Helper()
	scheme, err := manager.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: manager.CacheOptions()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := kube.SetupIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	return mgr
}

// waitForCache waits until the cache holds the contractor.
func waitForCache(t *testing.T, cache client.Reader, key types.NamespacedName) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		if err := cache.Get(ctx, key, &accessv1alpha1.Contractor{}); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the cache never saw contractor %s", key)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
