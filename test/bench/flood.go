package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// The flood: what hostile clients with valid tokens can do to the sign-in
// endpoint. floodClients send bodies of floodBodyBytes (half of them over
// the 8 MiB limit) of the largest valid events, about contractors that do
// not exist, as fast as they are answered, ignoring Retry-After, for
// floodDuration: first all with one token (a leaked token), two of them
// trickling their bodies slowly; then each with its own token (as many
// leaked tokens as clients). Meanwhile a legitimate sender with a token of
// its own sends one small batch a second.
const (
	floodClients    = 50
	floodBodyBytes  = 8 << 20
	floodDuration   = 15 * time.Second
	deploymentLimit = 512 << 20 // the manager Deployment's memory limit
)

// flood measures the manager's peak memory under the flood and whether a
// legitimate sender is still answered within a second.
func (b *bench) flood(ctx context.Context) ([]result, error) {
	tokens, err := b.addTokens(ctx, "flood", floodClients+1)
	if err != nil {
		return nil, err
	}
	legit, hostile := tokens[0], tokens[1:]
	contractor, err := b.floodContractor(ctx)
	if err != nil {
		return nil, err
	}
	var results []result
	for _, phase := range []struct {
		name   string
		tokens []string
	}{{"one token", hostile[:1]}, {fmt.Sprintf("%d tokens", len(hostile)), hostile}} {
		r, err := b.floodPhase(ctx, phase.name, phase.tokens, legit, contractor)
		if err != nil {
			return nil, err
		}
		results = append(results, r...)
	}
	return results, nil
}

func (b *bench) floodPhase(ctx context.Context, name string, tokens []string, legit, contractor string) ([]result, error) {
	before, err := rss(b.dev.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, floodDuration)
	defer cancel()
	var peak atomic.Int64
	peak.Store(before)
	go sampleRSS(ctx, b.dev.cmd.Process.Pid, &peak)
	codes := &codeCounts{counts: map[int]int{}}
	var wg sync.WaitGroup
	for i := range floodClients {
		slow := len(tokens) == 1 && i < 2
		wg.Go(func() { b.floodClient(ctx, tokens[i%len(tokens)], i%2 == 1, slow, codes) })
	}
	answered, sent, slowest := b.legitSender(ctx, legit, contractor)
	wg.Wait()
	prefix := fmt.Sprintf("flood, %d clients with %s", floodClients, name)
	if len(tokens) == 1 {
		prefix += " (2 of them slow)"
	}
	return []result{
		{prefix + ": answers by status in " + floodDuration.String(), codes.String()},
		{prefix + ": manager RSS before / peak (limit 512 MiB)",
			fmt.Sprintf("%d MiB / %d MiB (%.0f %% of the limit)", before>>20, peak.Load()>>20, 100*float64(peak.Load())/deploymentLimit)},
		{prefix + ": legitimate batches answered 200 within 1 s", fmt.Sprintf("%d of %d (slowest %s)", answered, sent, slowest.Round(time.Millisecond))},
	}, nil
}

// addTokens adds n tokens to the dev token Secret and returns them once
// the manager accepts them.
func (b *bench) addTokens(ctx context.Context, prefix string, n int) ([]string, error) {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: "portcullis-system", Name: "portcullis-ingest-tokens"}
	err := b.c.Get(ctx, key, secret)
	for end := time.Now().Add(30 * time.Second); apierrors.IsNotFound(err) && time.Now().Before(end); {
		// portcullis dev writes it just after it prints the kubeconfig.
		time.Sleep(200 * time.Millisecond)
		err = b.c.Get(ctx, key, secret)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the dev token Secret: %w", err)
	}
	patch := client.MergeFrom(secret.DeepCopy())
	tokens := make([]string, n)
	for i := range tokens {
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		tokens[i] = hex.EncodeToString(raw)
		secret.Data[fmt.Sprintf("%s-%d", prefix, i)] = []byte(tokens[i])
	}
	if err := b.c.Patch(ctx, secret, patch); err != nil {
		return nil, fmt.Errorf("adding tokens: %w", err)
	}
	// The manager reads the Secret again every 10 seconds.
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if code, _ := b.post(ctx, tokens[n-1], strings.NewReader("[]")); code == http.StatusOK {
			return tokens, nil
		}
	}
	return nil, errors.New("the manager did not take the new tokens within 30 s")
}

func (b *bench) floodContractor(ctx context.Context) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flood"}}
	if err := client.IgnoreAlreadyExists(b.c.Create(ctx, ns)); err != nil {
		return "", err
	}
	c := &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: "flood", Name: "honest"},
		Spec: accessv1alpha1.ContractorSpec{DisplayName: "Honest", Email: "honest@example.com",
			ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"}}}
	if err := client.IgnoreAlreadyExists(b.c.Create(ctx, c)); err != nil {
		return "", err
	}
	return "flood/honest", nil
}

// floodClient posts hostile bodies until ctx ends; oversize ones are
// larger than the endpoint's limit, slow ones trickle in.
func (b *bench) floodClient(ctx context.Context, token string, oversize, slow bool, codes *codeCounts) {
	size := floodBodyBytes - 4096
	if oversize {
		size = 2 * floodBodyBytes
	}
	for ctx.Err() == nil {
		body := hostileBody(size)
		if slow {
			body = &trickle{r: body}
		}
		code, err := b.post(ctx, token, body)
		if err != nil {
			code = 0
		}
		codes.add(code)
	}
}

// legitSender posts one small valid batch a second until ctx ends.
func (b *bench) legitSender(ctx context.Context, token, contractor string) (answered, sent int, slowest time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return answered, sent, slowest
		case <-tick.C:
		}
		body := fmt.Sprintf(`{"contractor":%q,"ip":"203.0.113.%d","time":%q}`, contractor, i%250+1,
			time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
		reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		began := time.Now()
		code, err := b.post(reqCtx, token, strings.NewReader(body))
		took := time.Since(began)
		cancel()
		sent++
		slowest = max(slowest, took)
		if err == nil && code == http.StatusOK && took <= time.Second {
			answered++
		}
	}
}

// post sends a body and drains the answer; it returns the status code.
func (b *bench) post(ctx context.Context, token string, body io.Reader) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.dev.ingest+"/v1/signins", body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// hostileBody streams size bytes of NDJSON events about contractors that
// do not exist, each as large as the endpoint accepts (a 512-byte user
// agent, a 256-byte device id), so that a body under the limit holds fewer
// events than the endpoint's maximum and is read whole. Nothing is held in
// the client's memory.
func hostileBody(size int) io.Reader {
	line := `{"contractor":"nobody/x%07d","ip":"198.51.100.7","time":"%s","deviceID":"` + strings.Repeat("D", 256) +
		`","userAgent":"` + strings.Repeat("A", 512) + `"}` + "\n"
	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	r, w := io.Pipe()
	go func() {
		written := 0
		for i := 0; written < size; i++ {
			n, err := fmt.Fprintf(w, line, i, at)
			if err != nil {
				return
			}
			written += n
		}
		_ = w.Close()
	}()
	return r
}

// trickle sends a body a line every half second: a client that keeps a
// request open to hold one of the endpoint's slots.
type trickle struct {
	r     io.Reader
	ready bool
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.ready {
		time.Sleep(500 * time.Millisecond)
	}
	t.ready = true
	return t.r.Read(p[:min(len(p), 1024)])
}

// sampleRSS keeps the largest resident set size of pid seen until ctx ends.
func sampleRSS(ctx context.Context, pid int, peak *atomic.Int64) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if v, err := rss(pid); err == nil && v > peak.Load() {
			peak.Store(v)
		}
	}
}

// rss reads a process's resident set size in bytes.
func rss(pid int) (int64, error) { return procStatus(pid, "VmRSS") }

// peakRSS is the most the process has had resident since it started.
func peakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

// procStatus reads a size in bytes from the process's /proc status.
func procStatus(pid int, field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// codeCounts counts the flood's answers by status code (0: no answer).
type codeCounts struct {
	mu     sync.Mutex
	counts map[int]int
}

func (c *codeCounts) add(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[code]++
}

func (c *codeCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, code := range []int{200, 413, 429, 503, 0} {
		if n := c.counts[code]; n > 0 {
			name := strconv.Itoa(code)
			if code == 0 {
				name = "no answer"
			}
			parts = append(parts, fmt.Sprintf("%s: %d", name, n))
		}
	}
	for code, n := range c.counts {
		if code != 200 && code != 413 && code != 429 && code != 503 && code != 0 {
			parts = append(parts, fmt.Sprintf("%d: %d", code, n))
		}
	}
	return strings.Join(parts, ", ")
}
