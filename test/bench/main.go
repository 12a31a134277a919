// Command bench measures Portcullis against a local control plane: it runs
// `portcullis dev` without samples, creates N contractors and grants on the
// kubernetes connector, and prints a table of convergence, latency, write
// counts, sign-in ingestion through the endpoint and memory. `make bench`
// runs it; it is not part of `make test`.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/test/freeport"
)

type options struct {
	grants      int
	perGrantee  int
	findings    int
	flipPercent float64
	signIns     int
	binary      string
	controlDir  string
	timeout     time.Duration
	steps       string
	heapProfile string
	lastApplied bool
}

func main() {
	opts := options{}
	flag.IntVar(&opts.grants, "grants", 2000, "Number of contractors, each with one grant (at most 50000).")
	flag.IntVar(&opts.perGrantee, "grants-per-contractor", 1, "Grants each contractor holds (1 to 4): edit, then view, and more of view under other names.")
	flag.IntVar(&opts.findings, "findings", 100, "Number of findings for the latency measurement.")
	flag.Float64Var(&opts.flipPercent, "flip-percent", 1, "Percent of decisions the policy change flips.")
	flag.IntVar(&opts.signIns, "signins", 20000, "Sign-in events sent through the endpoint, in batches of 1,000.")
	flag.StringVar(&opts.binary, "portcullis", "bin/portcullis", "The portcullis binary to run.")
	flag.StringVar(&opts.controlDir, "control-plane-dir", devenv.ControlPlaneDir(""), "kube-apiserver and etcd.")
	flag.DurationVar(&opts.timeout, "timeout", 20*time.Minute, "Give up after this long.")
	flag.StringVar(&opts.heapProfile, "heap-profile", "", "Write the manager's heap profile, after a GC, to this file in the memory step (for go tool pprof).")
	flag.BoolVar(&opts.lastApplied, "last-applied", false,
		"Create the contractors and grants with the copy of the object that kubectl apply (and Argo CD) keeps in an annotation.")
	flag.StringVar(&opts.steps, "steps", defaultSteps,
		"Comma-separated steps to run, in order: setup, converge, latency, noop, flip, ingest, memory, flood (the sign-in endpoint under a hostile flood, for make security), and guard (the blast-radius guard, on managers of its own with a budget of 20).")
	flag.Parse()
	// The harness logs nothing through controller-runtime; without a logger
	// it prints a stack trace for clients made 30 s after the start.
	ctrllog.SetLogger(logr.Discard())
	if opts.grants < 1 || opts.grants > 50000 || opts.findings < 1 || opts.findings > opts.grants || opts.perGrantee < 1 || opts.perGrantee > 4 {
		fmt.Fprintln(os.Stderr, "bench: --grants must be 1..50000, --findings 1..grants and --grants-per-contractor 1..4")
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
		"latency": b.latency, "noop": b.noop, "flip": b.flip, "ingest": b.ingest, "memory": b.memory, "flood": b.flood,
		"guard": b.guard}
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
	pprof      string
}

// startDev starts `portcullis dev` for the performance steps; extra flags
// come last, so they override the defaults (the guard step's budget).
func startDev(opts options, extra ...string) (*dev, error) {
	metrics, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	ingest, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	pprof, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	// A port of its own for the webhook too: the guard step runs a second
	// dev beside the first.
	webhook, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.binary, "dev", "--samples=false", "--control-plane-dir", opts.controlDir,
		"--metrics-bind-address", metrics, "--health-probe-bind-address=0", "--zap-log-level=error",
		"--guard-min-budget=1000000", "--ingest-bind-address", ingest, "--geoip-dir=", "--pprof-bind-address", pprof,
		"--webhook-bind-address", webhook)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s dev (run `make build controlplane` first): %w", opts.binary, err)
	}
	d := &dev{cmd: cmd, metrics: metrics, ingest: ingest, pprof: pprof}
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

// memory reads the resident set size of the dev process (the manager, plus
// handles on its etcd and kube-apiserver children), and the manager's live
// heap after a garbage collection, which the RSS holds twice over by
// default (GOGC=100) and which does not move with the collector's timing.
func (b *bench) memory(ctx context.Context) ([]result, error) {
	v, err := rss(b.dev.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	anon, err := procStatus(b.dev.cmd.Process.Pid, "RssAnon")
	if err != nil {
		return nil, err
	}
	peak, err := peakRSS(b.dev.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	live, err := liveHeap(ctx, b.dev.pprof)
	if err != nil {
		return nil, err
	}
	if b.opts.heapProfile != "" {
		if err := saveHeapProfile(ctx, b.dev.pprof, b.opts.heapProfile); err != nil {
			return nil, err
		}
	}
	return []result{{"manager RSS", fmt.Sprintf("%d MiB", v>>20)},
		{"manager RSS: anonymous / the binary's and other files' pages", fmt.Sprintf("%d / %d MiB", anon>>20, (v-anon)>>20)},
		{"manager peak RSS since start (convergence included)", fmt.Sprintf("%d MiB", peak>>20)},
		{"manager live heap (after a GC)", fmt.Sprintf("%d MiB", live>>20)}}, nil
}

// saveHeapProfile writes the manager's heap profile, after a GC, to path.
func saveHeapProfile(ctx context.Context, addr, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reading the manager's heap profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// liveHeap asks the manager's pprof endpoint for a heap profile after a
// garbage collection and returns its HeapAlloc.
func liveHeap(ctx context.Context, addr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading the manager's heap profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if v, ok := strings.CutPrefix(scanner.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := scanner.Err(); err != nil {
		return 0, fmt.Errorf("reading the manager's heap profile: %w", err)
	}
	return 0, errors.New("no HeapAlloc in the manager's heap profile")
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
