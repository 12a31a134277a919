package ingest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// TestFlood measures the endpoint's peak memory under a flood, as the
// security probe sent it: clients that each post, as fast as they are
// answered, bodies just under the 8 MiB limit (9,900 events of about
// 800 bytes), bodies that pass the limit without saying so, and bodies
// that declare too large a length. The server runs with its defaults over
// real HTTP on loopback and an in-memory store; the clients generate their
// bodies as they send them, so the process's memory is the server's.
//
// It runs only when PORTCULLIS_FLOOD is set, e.g. for a `make security`
// target:
//
//	PORTCULLIS_FLOOD=1 go test ./internal/ingest -run '^TestFlood$' -v
//
// PORTCULLIS_FLOOD_CLIENTS (default 50) and PORTCULLIS_FLOOD_DURATION
// (default 10s) shape the flood; PORTCULLIS_FLOOD_TOKENS (default 1) is how
// many tokens the clients share (one per client takes the per-token rate
// limit out of the way, so the caps alone bound the flood). The test fails
// when the peak heap passes PORTCULLIS_FLOOD_MAX_HEAP_MIB (default 256).
// It logs one line to parse:
//
//	flood: requests=… peak_heap_bytes=… peak_rss_bytes=… statuses=200:…,413:…,429:…,503:…,cancelled:…,error:…
func TestFlood(t *testing.T) {
	if os.Getenv("PORTCULLIS_FLOOD") == "" {
		t.Skip("set PORTCULLIS_FLOOD=1 to flood the endpoint and measure its memory")
	}
	clients := envInt(t, "PORTCULLIS_FLOOD_CLIENTS", 50)
	tokens := envInt(t, "PORTCULLIS_FLOOD_TOKENS", 1)
	maxHeap := uint64(envInt(t, "PORTCULLIS_FLOOD_MAX_HEAP_MIB", 256)) << 20
	duration, err := time.ParseDuration(envString("PORTCULLIS_FLOOD_DURATION", "10s"))
	if err != nil {
		t.Fatalf("PORTCULLIS_FLOOD_DURATION: %v", err)
	}

	url, secrets := startFloodServer(t, tokens)
	ctx, cancel := context.WithTimeout(t.Context(), duration)
	defer cancel()
	sampler := startSampler()
	statuses := flood(ctx, url, secrets, clients)
	peakHeap := sampler.stop()

	total := 0
	var codes []string
	for code, n := range statuses {
		total += n
		codes = append(codes, fmt.Sprintf("%s:%d", code, n))
	}
	slices.Sort(codes)
	t.Logf("flood: requests=%d peak_heap_bytes=%d peak_rss_bytes=%d statuses=%s",
		total, peakHeap, peakRSS(), strings.Join(codes, ","))
	if peakHeap > maxHeap {
		t.Errorf("the heap peaked at %d MiB, above %d MiB", peakHeap>>20, maxHeap>>20)
	}
}

// startFloodServer serves the endpoint with its default limits on a
// loopback port, over an in-memory store of 100 contractors.
func startFloodServer(t *testing.T, tokens int) (string, []string) {
	t.Helper()
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("flood/c%03d", i)
	}
	enricher, err := signals.OpenEnricher(signals.EnricherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret := &secretReader{}
	secrets := make([]string, tokens)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("flood-token-%d", i)
	}
	secret.set(secrets...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{
		Ingester: signals.NewIngester(newMemStore(names...), enricher, signals.IngesterOptions{}),
		Tokens:   &Tokens{Reader: secret, Secret: types.NamespacedName{Namespace: "ns", Name: "tokens"}, Refresh: 10 * time.Second, Clock: clock.RealClock{}},
		Listener: l,
	}
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), logr.Discard()))
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the server: %v", err)
		}
	})
	return "http://" + l.Addr().String() + Path, secrets
}

// flood posts from clients goroutines until ctx ends and counts the
// answers by status ("error" for a failed exchange, "cancelled" for one
// cut short by the end of the flood).
func flood(ctx context.Context, url string, tokens []string, clients int) map[string]int {
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for i := 0; ctx.Err() == nil; i++ {
				code := post(ctx, client, url, tokens[c%len(tokens)], (c+i)%3)
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return statuses
}

// The bodies of the flood: just under the limit, past it undeclared, and
// declared past it.
const (
	underTheLimit = iota
	pastTheLimit
	declaredPastTheLimit
)

func post(ctx context.Context, client *http.Client, url, token string, kind int) string {
	events, size := 9900, int64(-1)
	switch kind {
	case underTheLimit:
		size = int64(events * floodLineLen)
	case pastTheLimit:
		events = 12000
	case declaredPastTheLimit:
		events, size = 12000, int64(12000*floodLineLen)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &floodBody{events: events})
	if err != nil {
		return "error"
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	switch {
	case err != nil && ctx.Err() != nil:
		return "cancelled" // the flood ended
	case err != nil:
		return "error"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// floodLineLen is the length of every line of a floodBody.
var floodLineLen = len(floodLine(0))

func floodLine(i int) []byte {
	at := time.Now().Add(-24*time.Hour + time.Duration(i%10000)*time.Second).UTC().Format("2006-01-02T15:04:05Z")
	return fmt.Appendf(nil, `{"contractor":"flood/c%03d","ip":"198.51.100.%03d","time":%q,"deviceID":"%0200d","userAgent":"%0480d"}`+"\n",
		i%100, i%200+10, at, i, i)
}

// floodBody generates events lines of NDJSON as they are read.
type floodBody struct {
	events, next int
	pending      []byte
}

func (b *floodBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(b.pending) == 0 {
			if b.next == b.events {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
			b.pending = floodLine(b.next)
			b.next++
		}
		c := copy(p[n:], b.pending)
		b.pending = b.pending[c:]
		n += c
	}
	return n, nil
}

// sampler records the peak of the heap in use every 20 ms.
type sampler struct {
	done chan struct{}
	peak chan uint64
}

func startSampler() *sampler {
	s := &sampler{done: make(chan struct{}), peak: make(chan uint64)}
	go func() {
		var peak uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-s.done:
				s.peak <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() uint64 {
	close(s.done)
	return <-s.peak
}

// peakRSS is the process's peak resident set (VmHWM), 0 where unknown.
func peakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(t *testing.T, name string, def int) int {
	v, err := strconv.Atoi(envString(name, strconv.Itoa(def)))
	if err != nil || v < 1 {
		t.Fatalf("%s must be a positive number", name)
	}
	return v
}
