package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/test/chaos"
	"github.com/portcullis-dev/portcullis/test/pgserver"
)

// config is the suite's settings, read from the environment so that
// `make chaos` can pass them: PORTCULLIS_CHAOS_<NAME>.
type config struct {
	binary, assets string
	scenarios      []string
	seed           uint64
	contractors    int           // scenario 1's contractors (three grants each)
	kills          int           // scenario 1's SIGKILLs
	outage         time.Duration // scenario 3's outage
	samples        int           // latency samples per measurement
	guardBudget    int           // scenario 6's --guard-min-budget
	workers        int           // --grant-workers; 0 keeps the manager's default
	hookTimeout    int           // the webhook system's timeoutSeconds
	latencyFloor   time.Duration // the smallest baseline p99 compared with
	managerFlags   []string      // extra manager flags, for experiments
	leaderElect    bool
	keep           bool
}

func loadConfig(t *testing.T) config {
	t.Helper()
	c := config{
		binary:       envString("PORTCULLIS_BINARY", filepath.Join("..", "..", "bin", "portcullis")),
		assets:       os.Getenv("KUBEBUILDER_ASSETS"),
		scenarios:    strings.Split(envString("PORTCULLIS_CHAOS_SCENARIOS", "1,2,3,4,5,6,7,8,9,10"), ","),
		seed:         uint64(envInt(t, "PORTCULLIS_CHAOS_SEED", int(time.Now().UnixNano()%1e9))),
		contractors:  envInt(t, "PORTCULLIS_CHAOS_CONTRACTORS", 16),
		kills:        envInt(t, "PORTCULLIS_CHAOS_KILLS", 20),
		outage:       envDuration(t, "PORTCULLIS_CHAOS_OUTAGE", 15*time.Second),
		samples:      envInt(t, "PORTCULLIS_CHAOS_SAMPLES", 10),
		guardBudget:  envInt(t, "PORTCULLIS_CHAOS_GUARD_BUDGET", 3),
		workers:      envInt(t, "PORTCULLIS_CHAOS_WORKERS", 0),
		hookTimeout:  envInt(t, "PORTCULLIS_CHAOS_HOOK_TIMEOUT", 3),
		latencyFloor: envDuration(t, "PORTCULLIS_CHAOS_LATENCY_FLOOR", 250*time.Millisecond),
		managerFlags: strings.Fields(os.Getenv("PORTCULLIS_CHAOS_MANAGER_FLAGS")),
		leaderElect:  os.Getenv("PORTCULLIS_CHAOS_LEADER_ELECT") == "1",
		keep:         os.Getenv("PORTCULLIS_CHAOS_KEEP") == "1",
	}
	if c.assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make chaos`, or export the line `make envtest` prints")
	}
	if abs, err := filepath.Abs(c.binary); err == nil {
		c.binary = abs
	}
	if _, err := os.Stat(c.binary); err != nil {
		t.Fatalf("no portcullis binary at %s (run `make build`, or set PORTCULLIS_BINARY): %v", c.binary, err)
	}
	return c
}

func (c config) runs(id string) bool { return slices.Contains(c.scenarios, id) }

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: want a duration such as 15s", name, v)
	}
	return d
}

// suite is the running world: control plane, PostgreSQL, receiver, manager.
type suite struct {
	cfg       config
	rng       *rand.Rand
	dir       string
	cp        *chaos.ControlPlane
	mgr       *chaos.Manager
	w         *chaos.World
	cs        kubernetes.Interface
	bulkheads bool
	ssfCA     *chaos.CA // scenario 10's, for the transmitter and its receiver
}

// startSuite starts everything; every process stops when the test ends,
// passed or not.
func startSuite(ctx context.Context, t *testing.T, cfg config) *suite {
	t.Helper()
	s := &suite{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, cfg.seed))}
	dir, err := os.MkdirTemp("", "portcullis-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() {
		if t.Failed() || cfg.keep {
			fmt.Printf("Chaos logs and data kept in %s (manager.log, controlplane.log).\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	pg := &chaos.PG{Server: pgserver.Start(t)}
	t.Cleanup(func() { _ = pg.Thaw() }) // before the server stops
	cpLogs, err := os.Create(filepath.Join(dir, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cpLogs.Close() })
	t.Logf("Starting etcd and kube-apiserver in %s", dir)
	if s.cp, err = chaos.StartControlPlane(ctx, cfg.assets, filepath.Join(dir, "controlplane"), cpLogs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.cp.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	key := []byte(fmt.Sprintf("chaos-hmac-%d", cfg.seed))
	receiver := chaos.StartReceiver(key)
	t.Cleanup(receiver.Close)
	s.w = &chaos.World{PG: pg, Receiver: receiver, HookKey: key, HookTimeout: int32(cfg.hookTimeout)}
	if s.w.C, err = newClient(s.cp); err != nil {
		t.Fatal(err)
	}
	if s.cs, err = kubernetes.NewForConfig(s.cp.Config); err != nil {
		t.Fatal(err)
	}
	if err := s.w.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	s.mgr = &chaos.Manager{Binary: cfg.binary, Kubeconfig: s.cp.Kubeconfig,
		CredentialsNamespace: chaos.CredentialsNamespace, LogPath: filepath.Join(dir, "manager.log")}
	t.Cleanup(func() { _ = s.mgr.Stop() })
	s.bulkheads = chaos.HasFlag(cfg.binary, "system-concurrency")
	if err := s.ensureManager(ctx, s.normalFlags()); err != nil {
		t.Fatal(err)
	}
	return s
}

func newClient(cp *chaos.ControlPlane) (client.Client, error) {
	scheme, err := manager.NewScheme()
	if err != nil {
		return nil, err
	}
	return client.New(cp.Config, client.Options{Scheme: scheme})
}

// normalFlags run the manager with a guard budget no scenario but the
// guard's reaches.
func (s *suite) normalFlags() []string {
	flags := []string{"--guard-min-budget=1000000"}
	if s.cfg.workers > 0 {
		flags = append(flags, "--grant-workers="+strconv.Itoa(s.cfg.workers))
	}
	if s.cfg.leaderElect {
		flags = append(flags, "--leader-elect", "--leader-election-namespace="+chaos.CredentialsNamespace)
	}
	return append(flags, s.cfg.managerFlags...)
}

// ensureManager (re)starts the manager unless it runs with these flags.
func (s *suite) ensureManager(ctx context.Context, flags []string) error {
	if s.mgr.WaitReady(ctx, time.Second) == nil && slices.Equal(s.mgr.Flags(), flags) {
		return nil
	}
	if err := s.mgr.Stop(); err != nil {
		return err
	}
	if err := s.mgr.Start(flags...); err != nil {
		return err
	}
	return s.mgr.WaitReady(ctx, 90*time.Second)
}

// restart SIGKILLs the manager and starts it again with the same flags.
func (s *suite) restart(ctx context.Context) error {
	return s.mgr.Restart(ctx, s.mgr.Flags()...)
}

// between returns a random duration in [lo, hi).
func (s *suite) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

// activate creates n contractors in ns with a grant on each kind, and
// waits until every grant is Active; a failure is the row's.
func (s *suite) activate(ctx context.Context, row *chaos.Row, ns, prefix string, n int, kinds ...chaos.Kind) ([]chaos.Contractor, bool) {
	cs, err := s.w.NewContractors(ctx, ns, prefix, n, kinds...)
	if err != nil {
		row.Fail("setup: %v", err)
		return nil, false
	}
	out := s.w.WaitVerified(ctx, chaos.Expect(cs, accessv1alpha1.GrantActive), false, 2*time.Minute)
	if out.Applied < out.Expected {
		row.Fail("setup: %d of %d grants never became Active: %s", out.Expected-out.Applied, out.Expected, chaos.ListSome(out.Lost, 5))
		return nil, false
	}
	return cs, true
}

// settle fills the row from an outcome and the receiver's counts for ns.
// An applied transition without its Event fails the row: every transition
// is announced at least once.
func (s *suite) settle(row *chaos.Row, out chaos.Outcome, ns string) {
	row.Expected += out.Expected
	row.Applied += out.Applied
	if len(out.Lost) > 0 {
		row.Fail("%d transitions lost: %s", len(out.Lost), chaos.ListSome(out.Lost, 5))
	}
	if n := len(out.MissingEvents); n > 0 {
		row.Fail("%d applied transitions have no Event: %s", n, chaos.ListSome(out.MissingEvents, 5))
	}
	st := s.w.Receiver.Stats(ns)
	row.Duplicated += st.Duplicates
	if st.Duplicates > 0 {
		row.Fail("the receiver applied %d transitions twice", st.Duplicates)
	}
	if len(st.Bad) > 0 {
		row.Fail("%d deliveries failed the receiver's checks: %s", len(st.Bad), chaos.ListSome(st.Bad, 3))
	}
	if st.Deliveries > 0 {
		row.Note("receiver: %d deliveries, %d applied, %d redeliveries of an applied id (dropped)",
			st.Deliveries, st.Applied, st.Redeliveries)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// converge waits until every expectation holds, then gives the Events a
// few more seconds to be listed.
func (s *suite) converge(ctx context.Context, exps []chaos.Expectation, timeout time.Duration) chaos.Outcome {
	out := s.w.WaitVerified(ctx, exps, false, timeout)
	if out.Applied < out.Expected {
		return out
	}
	return s.w.WaitVerified(ctx, exps, true, 15*time.Second)
}
