// Command bench measures Portcullis against a local control plane: it runs
// `portcullis dev` without samples, creates N contractors and grants on the
// kubernetes connector, and prints a table of convergence, latency, write
// counts, sign-in ingestion through the endpoint and memory. `make bench`
// runs it; it is not part of `make test`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/signals"
	"github.com/portcullis-dev/portcullis/test/freeport"
)

type options struct {
	grants      int
	findings    int
	flipPercent float64
	signIns     int
	binary      string
	controlDir  string
	timeout     time.Duration
	steps       string
}

func main() {
	opts := options{}
	flag.IntVar(&opts.grants, "grants", 2000, "Number of contractors, each with one grant (at most 10000).")
	flag.IntVar(&opts.findings, "findings", 100, "Number of findings for the latency measurement.")
	flag.Float64Var(&opts.flipPercent, "flip-percent", 1, "Percent of decisions the policy change flips.")
	flag.IntVar(&opts.signIns, "signins", 20000, "Sign-in events sent through the endpoint, in batches of 1,000.")
	flag.StringVar(&opts.binary, "portcullis", "bin/portcullis", "The portcullis binary to run.")
	flag.StringVar(&opts.controlDir, "control-plane-dir", "bin/k8s/1.37.2-linux-amd64", "kube-apiserver and etcd.")
	flag.DurationVar(&opts.timeout, "timeout", 20*time.Minute, "Give up after this long.")
	flag.StringVar(&opts.steps, "steps", defaultSteps,
		"Comma-separated steps to run, in order: setup, converge, latency, noop, flip, ingest, memory, and flood (the sign-in endpoint under a hostile flood, for make security).")
	flag.Parse()
	if opts.grants < 1 || opts.grants > 10000 || opts.findings < 1 || opts.findings > opts.grants {
		fmt.Fprintln(os.Stderr, "bench: --grants must be 1..10000 and --findings 1..grants")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	err := run(ctx, opts)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// defaultSteps is the performance run of make bench.
const defaultSteps = "setup,converge,latency,noop,flip,ingest,memory"

type result struct {
	name, value string
}

func run(ctx context.Context, opts options) error {
	dev, err := startDev(opts)
	if err != nil {
		return err
	}
	defer dev.stop()
	b, err := newBench(dev, opts)
	if err != nil {
		return err
	}
	steps := map[string]func(context.Context) ([]result, error){"setup": b.setup, "converge": b.converge,
		"latency": b.latency, "noop": b.noop, "flip": b.flip, "ingest": b.ingest, "memory": b.memory, "flood": b.flood}
	var results []result
	for _, name := range strings.Split(opts.steps, ",") {
		step, ok := steps[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("--steps: no step %q", name)
		}
		r, err := step(ctx)
		if err != nil {
			return err
		}
		results = append(results, r...)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "MEASURE\tVALUE\n")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%s\n", r.name, r.value)
	}
	return w.Flush()
}

// dev is a running `portcullis dev`.
type dev struct {
	cmd        *exec.Cmd
	kubeconfig string
	metrics    string
	ingest     string
}

func startDev(opts options) (*dev, error) {
	metrics, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	ingest, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.binary, "dev", "--samples=false", "--control-plane-dir", opts.controlDir,
		"--metrics-bind-address", metrics, "--health-probe-bind-address=0", "--zap-log-level=error",
		"--guard-min-budget=1000000", "--ingest-bind-address", ingest, "--geoip-dir=")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s dev (run `make build controlplane` first): %w", opts.binary, err)
	}
	d := &dev{cmd: cmd, metrics: metrics, ingest: ingest}
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		if path, ok := strings.CutPrefix(strings.TrimSpace(scanner.Text()), "export KUBECONFIG="); ok {
			d.kubeconfig = path
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return d, nil
		}
	}
	d.stop()
	return nil, errors.New("portcullis dev exited before printing its kubeconfig")
}

func (d *dev) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	_ = d.cmd.Wait()
}

// bench holds the clients and the names of the run.
type bench struct {
	opts   options
	dev    *dev
	c      client.Client
	cs     *kubernetes.Clientset
	ns     string
	system string
	flips  []string
}

func newBench(d *dev, opts options) (*bench, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	scheme, err := manager.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, err
	}
	return &bench{opts: opts, dev: d, c: c, cs: cs, ns: "bench", system: "bench-cluster"}, nil
}

// policyV1 quarantines on geolocation findings; policyV2 also quarantines
// the contractors of the flip cohort.
const policyV1 = `package bench

quarantine contains {"msg": "seen abroad", "code": "Abroad"} if {
	some f in input.findings
	f.spec.type == "geolocation"
}
`

const policyV2 = policyV1 + `
quarantine contains {"msg": "flip cohort", "code": "Flip"} if input.contractor.metadata.labels.cohort == "flip"
`

func (b *bench) setup(ctx context.Context) ([]result, error) {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}},
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: b.system},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes, Kubernetes: &accessv1alpha1.KubernetesSettings{
				AllowedClusterRoles: []string{"edit"}, AllowedNamespaces: []string{b.ns}}}},
		&accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: accessv1alpha1.AccessPolicySpec{Rego: policyV1}},
	}
	for _, o := range objs {
		if err := b.c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return []result{{"grants (kubernetes connector)", strconv.Itoa(b.opts.grants)}}, nil
}

func (b *bench) contractorName(i int) string { return fmt.Sprintf("c%05d", i) }

func (b *bench) converge(ctx context.Context) ([]result, error) {
	flipEvery := int(100 / b.opts.flipPercent)
	start := time.Now()
	err := parallel(ctx, b.opts.grants, 16, func(i int) error {
		name := b.contractorName(i)
		labels := map[string]string{}
		if i%flipEvery == flipEvery-1 {
			labels["cohort"] = "flip"
		}
		c := &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name, Labels: labels},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: name, Email: name + "@example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: b.system, ID: name + "@example.com"}}}}
		if err := b.c.Create(ctx, c); err != nil {
			return err
		}
		g := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
			Spec: accessv1alpha1.AccessGrantSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: name},
				SystemRef:     accessv1alpha1.SystemReference{Name: b.system},
				Entitlement:   accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: "edit", Namespace: b.ns},
				Justification: "bench", Approver: "bench"}}
		return b.c.Create(ctx, g)
	})
	if err != nil {
		return nil, fmt.Errorf("creating contractors and grants: %w", err)
	}
	created := time.Since(start)
	for i := range b.opts.grants {
		if c := b.contractorName(i); i%flipEvery == flipEvery-1 {
			b.flips = append(b.flips, c)
		}
	}
	if err := b.waitStates(ctx, nil, accessv1alpha1.GrantActive); err != nil {
		return nil, err
	}
	return []result{
		{"create contractors and grants", created.Round(time.Millisecond).String()},
		{"initial convergence (all grants Active, from first create)", time.Since(start).Round(time.Millisecond).String()},
	}, nil
}

// waitStates polls until every named grant (all when names is nil) has
// the applied state.
func (b *bench) waitStates(ctx context.Context, names []string, state accessv1alpha1.GrantState) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for {
		list := &accessv1alpha1.AccessGrantList{}
		if err := b.c.List(ctx, list, client.InNamespace(b.ns)); err != nil {
			return err
		}
		done := 0
		for _, g := range list.Items {
			if (names == nil || want[g.Name]) && g.Status.Enforcement != nil && g.Status.Enforcement.State == state {
				done++
			}
		}
		total := len(names)
		if names == nil {
			total = b.opts.grants
		}
		if done == total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d grants to be %s (%d are): %w", total, state, done, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// latency creates findings one at a time and times each until the
// contractor's binding points to the quarantine role.
func (b *bench) latency(ctx context.Context) ([]result, error) {
	w, err := b.cs.RbacV1().RoleBindings(b.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var samples []time.Duration
	for i := range b.opts.findings {
		name := b.contractorName(i * (b.opts.grants / b.opts.findings))
		binding := "portcullis-" + b.ns + "-" + name
		f := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name + "-geo"},
			Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: name},
				Type: accessv1alpha1.FindingGeolocation, Severity: accessv1alpha1.SeverityHigh, Source: "bench",
				Evidence: accessv1alpha1.Evidence{Country: "BR"}}}
		start := time.Now()
		if err := b.c.Create(ctx, f); err != nil {
			return nil, err
		}
		if err := waitBinding(ctx, w.ResultChan(), binding, "view"); err != nil {
			return nil, err
		}
		samples = append(samples, time.Since(start))
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	return []result{
		{fmt.Sprintf("finding created -> binding changed, p50 (%d findings)", len(samples)), percentile(samples, 50)},
		{fmt.Sprintf("finding created -> binding changed, p99 (%d findings)", len(samples)), percentile(samples, 99)},
	}, nil
}

func waitBinding(ctx context.Context, events <-chan watch.Event, name, role string) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for binding %s to %s: %w", name, role, ctx.Err())
		case ev, ok := <-events:
			if !ok {
				return errors.New("the binding watch closed")
			}
			rb, isRB := ev.Object.(*rbacv1.RoleBinding)
			if isRB && ev.Type != watch.Deleted && rb.Name == name && rb.RoleRef.Name == role {
				return nil
			}
		}
	}
}

func percentile(sorted []time.Duration, p int) string {
	i := (len(sorted)*p+99)/100 - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i].Round(time.Millisecond).String()
}

// noop pushes a policy change that changes no decision: the sweep decides
// every grant again and must write nothing for them.
func (b *bench) noop(ctx context.Context) ([]result, error) {
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	before, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	decided, err := b.decisions(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.setPolicy(ctx, policyV1+"\n# a comment changes the revision, not the outcome\n"); err != nil {
		return nil, err
	}
	for {
		n, err := b.decisions(ctx)
		if err != nil {
			return nil, err
		}
		if n-decided >= float64(b.opts.grants) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	swept := time.Since(start)
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	after, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	return []result{
		{"policy change flipping nothing: sweep of all grants", swept.Round(time.Millisecond).String()},
		{"policy change flipping nothing: API writes by the manager", strconv.Itoa(int(after - before))},
	}, nil
}

// quiesce waits until the manager has made no write for two seconds.
func (b *bench) quiesce(ctx context.Context) error {
	last, quiet := -1.0, 0
	for quiet < 2 {
		n, err := b.writes(ctx)
		if err != nil {
			return err
		}
		if n == last {
			quiet++
		} else {
			quiet = 0
		}
		last = n
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (b *bench) setPolicy(ctx context.Context, rego string) error {
	pol := &accessv1alpha1.AccessPolicy{}
	if err := b.c.Get(ctx, client.ObjectKey{Name: "bench"}, pol); err != nil {
		return err
	}
	pol.Spec.Rego = rego
	return b.c.Update(ctx, pol)
}

// flip pushes a policy change that flips the cohort's decisions and
// measures the time to converge and the API writes it caused.
func (b *bench) flip(ctx context.Context) ([]result, error) {
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	before, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.setPolicy(ctx, policyV2); err != nil {
		return nil, err
	}
	if err := b.waitStates(ctx, b.flips, accessv1alpha1.GrantQuarantined); err != nil {
		return nil, err
	}
	converged := time.Since(start)
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	after, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	return []result{
		{fmt.Sprintf("policy change flipping %d decisions (%.1f%%): converge", len(b.flips), b.opts.flipPercent), converged.Round(time.Millisecond).String()},
		{"policy change: API writes by the manager (sweep of all grants)", strconv.Itoa(int(after - before))},
	}, nil
}

// writes sums the manager's mutating API requests from its metrics.
func (b *bench) writes(ctx context.Context) (float64, error) {
	return b.metricSum(ctx, "rest_client_requests_total{", `method="POST"`, `method="PUT"`, `method="PATCH"`, `method="DELETE"`)
}

// decisions is how many grant decisions the manager made.
func (b *bench) decisions(ctx context.Context) (float64, error) {
	return b.metricSum(ctx, "portcullis_decisions_total{", "")
}

// metricSum adds the samples of a metric whose lines contain any of labels.
func (b *bench) metricSum(ctx context.Context, prefix string, labels ...string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.dev.metrics+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping the manager's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var total float64
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for _, l := range labels {
			if strings.Contains(line, l) {
				v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				if err == nil {
					total += v
				}
				break
			}
		}
	}
	return total, scanner.Err()
}

// ingest sends sign-ins through the endpoint in batches of 1,000, in two
// shapes: spread (every event of a batch from another contractor, the worst
// case, one status write per event) and grouped (ten events per contractor
// in a batch, as a SIEM forwarding a minute of sign-ins sends them). Each
// contractor has an address and a laptop of their own, except a farm of 1 %
// of the contractors that share one address.
func (b *bench) ingest(ctx context.Context) ([]result, error) {
	token, err := os.ReadFile(filepath.Join(filepath.Dir(b.dev.kubeconfig), "ingest-token"))
	if err != nil {
		return nil, fmt.Errorf("reading the dev ingest token: %w", err)
	}
	half := b.opts.signIns / 2
	start := time.Now().Add(-24 * time.Hour)
	spread := b.signInBodies(0, half, start, func(i int) int { return i % b.opts.grants })
	grouped := b.signInBodies(half, b.opts.signIns, start, func(i int) int { return (i - half) / 10 % b.opts.grants })
	var results []result
	for _, run := range []struct {
		name   string
		bodies [][]byte
	}{{"spread", spread}, {"grouped by contractor", grouped}} {
		r, err := b.sendSignIns(ctx, strings.TrimSpace(string(token)), run.name, run.bodies)
		if err != nil {
			return nil, err
		}
		results = append(results, r...)
	}
	return results, nil
}

// signInBodies renders events from to to in NDJSON batches of 1,000;
// contractor maps an event's number to its contractor's.
func (b *bench) signInBodies(from, to int, start time.Time, contractor func(int) int) [][]byte {
	const batch = 1000
	farm := max(2, b.opts.grants/100)
	var bodies [][]byte
	for first := from; first < to; first += batch {
		var body bytes.Buffer
		for i := first; i < min(first+batch, to); i++ {
			c := contractor(i)
			ip := fmt.Sprintf("10.%d.%d.%d", c/65536, c/256%256, c%256)
			if c < farm {
				ip = "192.0.2.10"
			}
			at := start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(b.opts.signIns))
			fmt.Fprintf(&body, `{"contractor":"%s/%s","ip":"%s","time":"%s","deviceID":"laptop-%d"}`+"\n",
				b.ns, b.contractorName(c), ip, at.UTC().Format(time.RFC3339Nano), c)
		}
		bodies = append(bodies, body.Bytes())
	}
	return bodies
}

func (b *bench) sendSignIns(ctx context.Context, token, name string, bodies [][]byte) ([]result, error) {
	writesBefore, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	accepted, findings := 0, 0
	for _, body := range bodies {
		res, err := b.postSignIns(ctx, token, body)
		if err != nil {
			return nil, err
		}
		accepted += res.Accepted
		findings += res.FindingsCreated + res.FindingsUpdated
	}
	took := time.Since(began)
	writesAfter, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	return []result{
		{fmt.Sprintf("sign-ins, %s: %d through the endpoint", name, accepted),
			fmt.Sprintf("%.0f events/s (%s)", float64(accepted)/took.Seconds(), took.Round(time.Millisecond))},
		{fmt.Sprintf("sign-ins, %s: Finding writes / API writes", name), fmt.Sprintf("%d / %.0f", findings, writesAfter-writesBefore)},
	}, nil
}

// postSignIns posts one batch, again after a 429 or 503 as long as the
// server's Retry-After asks.
func (b *bench) postSignIns(ctx context.Context, token string, body []byte) (signals.Result, error) {
	for attempt := 0; ; attempt++ {
		res, wait, err := b.postOnce(ctx, token, body)
		if wait == 0 || attempt == 10 {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// postOnce posts a batch; wait is how long to wait before trying again,
// zero when the answer is final.
func (b *bench) postOnce(ctx context.Context, token string, body []byte) (signals.Result, time.Duration, error) {
	var res signals.Result
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.dev.ingest+"/v1/signins", bytes.NewReader(body))
	if err != nil {
		return res, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		seconds, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return res, time.Duration(max(seconds, 1)) * time.Second, fmt.Errorf("sign-ins: %s", resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return res, 0, fmt.Errorf("sign-ins: %s: %s", resp.Status, raw)
	}
	return res, 0, json.NewDecoder(resp.Body).Decode(&res)
}

// memory reads the resident set size of the dev process (the manager, plus
// handles on its etcd and kube-apiserver children).
func (b *bench) memory(context.Context) ([]result, error) {
	v, err := rss(b.dev.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	return []result{{"manager RSS", fmt.Sprintf("%d MiB", v>>20)}}, nil
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(int) error) error {
	jobs := make(chan int)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var first error
			for i := range jobs {
				if first == nil {
					first = fn(i)
				}
			}
			errs <- first
		}()
	}
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
