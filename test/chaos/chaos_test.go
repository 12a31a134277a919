package chaos_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/test/chaos"
)

// scenario is one phase of the suite; it returns its row of the table.
type scenario struct {
	id, name string
	run      func(ctx context.Context, t *testing.T, s *suite) chaos.Row
}

var scenarios = []scenario{
	{"1", "1 manager SIGKILLs during revocations", killsDuringRevocations},
	{"2", "2 API server restart during quarantines", apiServerRestart},
	{"3", "3 connector outage and recovery", connectorOutage},
	{"4", "4 hanging receiver beside a healthy system", hangingReceiver},
	{"5", "5 broken policy across a restart", brokenPolicy},
	{"6", "6 restart inside the guard window", guardWindow},
	{"7", "7 revoked grant deleted and re-created", recreatedGrant},
	{"8", "8 two hanging systems beside a healthy one", twoHangingSystems},
	{"9", "9 manager SIGKILLs while reading a sign-in log", killsWhileReadingSignIns},
	{"10", "10 manager SIGKILLs while transmitting Shared Signals", killsWhileTransmittingSignals},
}

// TestChaos runs the chaos suite: real etcd, kube-apiserver, PostgreSQL and
// manager processes, faults injected into them, and a check that no
// transition was lost or applied twice. It takes minutes, so it runs only
// with PORTCULLIS_CHAOS=1 (make chaos). See docs/chaos.md.
func TestChaos(t *testing.T) {
	if os.Getenv("PORTCULLIS_CHAOS") != "1" {
		t.Skip("the chaos suite runs with PORTCULLIS_CHAOS=1 (make chaos); it takes minutes")
	}
	cfg := loadConfig(t)
	ctx, cancel := suiteContext(t)
	defer cancel()
	t.Logf("Seed %d (PORTCULLIS_CHAOS_SEED=%d repeats this run's random choices)", cfg.seed, cfg.seed)
	s := startSuite(ctx, t, cfg)
	t.Logf("Manager ready; the binary %s --system-concurrency (per-system bulkheads)",
		map[bool]string{true: "has", false: "does not have"}[s.bulkheads])
	var rows []chaos.Row
	for _, sc := range scenarios {
		if !cfg.runs(sc.id) {
			rows = append(rows, chaos.Row{Scenario: sc.name, Skipped: "not in PORTCULLIS_CHAOS_SCENARIOS"})
			continue
		}
		var row chaos.Row
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			row = runScenario(ctx, t, s, sc)
			t.Logf("%s: %s in %s", sc.name, row.Verdict(), time.Since(start).Round(time.Second))
			for _, p := range row.Problems {
				t.Error(p)
			}
		})
		rows = append(rows, row)
	}
	report(t, s, rows)
}

// runScenario starts the scenario with the normal manager and turns a
// panic or an early return into a failed row rather than a lost table.
func runScenario(ctx context.Context, t *testing.T, s *suite, sc scenario) (row chaos.Row) {
	row.Scenario = sc.name
	defer func() {
		if p := recover(); p != nil {
			row.Fail("panic: %v", p)
		}
	}()
	if err := s.ensureManager(ctx, s.normalFlags()); err != nil {
		row.Fail("starting the manager: %v", err)
		return row
	}
	row = sc.run(ctx, t, s)
	row.Scenario = sc.name
	return row
}

// suiteContext ends on Ctrl-C or a minute before the test binary's
// deadline, so that an interrupted or slow run still stops its processes
// and prints its table.
func suiteContext(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Minute))
		return ctx, func() { cancel(); stop() }
	}
	return ctx, stop
}

func report(t *testing.T, s *suite, rows []chaos.Row) {
	var b strings.Builder
	chaos.PrintTable(&b, rows)
	fmt.Printf("\n=== Chaos suite (seed %d, %d manager SIGKILLs in all)\n%s\n", s.cfg.seed, s.mgr.Kills(), b.String())
	_ = os.WriteFile(filepath.Join(s.dir, "table.txt"), []byte(b.String()), 0o600)
	for _, r := range rows {
		if r.Verdict() == "FAIL" {
			t.Errorf("scenario %q failed", r.Scenario)
		}
	}
}
