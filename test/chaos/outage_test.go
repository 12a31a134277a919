package chaos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
)

// latencyPace is how far apart the measured findings are created.
const latencyPace = 250 * time.Millisecond

// latencyTimeout is the longest a measured change is waited for.
const latencyTimeout = time.Minute

// connectorOutage: PostgreSQL stops and the webhook receiver answers 503
// for the outage; meanwhile quarantining findings arrive for half the
// contractors (their kubernetes binding change is timed) and revoking ones
// for the other half. After recovery every transition must be applied, and
// the kubernetes system, which stayed up, must have kept its latency.
func connectorOutage(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{Faults: fmt.Sprintf("PostgreSQL stopped and receiver 503 for %s", s.cfg.outage)}
	const ns = "chaos-s3"
	all := []chaos.Kind{chaos.Kubernetes, chaos.Postgres, chaos.Webhook}
	base, ok := s.activate(ctx, &row, ns, "s3b", s.cfg.samples, all...)
	if !ok {
		return row
	}
	hit, ok := s.activate(ctx, &row, ns, "s3", s.cfg.samples*2, all...)
	if !ok {
		return row
	}
	bw, err := chaos.WatchBindings(ctx, s.cs, chaos.QuarantineRole)
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	baseline, err := s.w.MeasureQuarantines(ctx, bw, base, "abroad", latencyPace, latencyTimeout)
	if err != nil {
		row.Fail("measuring the baseline: %v", err)
		return row
	}
	quarantined, revoked := hit[:len(hit)/2], hit[len(hit)/2:]
	t.Logf("Baseline %s; stopping PostgreSQL, receiver answers 503", baseline)
	start := time.Now()
	if err := s.w.PG.Server.Stop(); err != nil {
		row.Fail("stopping PostgreSQL: %v", err)
		return row
	}
	s.w.PG.Server.WaitGone()
	s.w.Receiver.SetMode(chaos.Fail)
	during, err := s.w.MeasureQuarantines(ctx, bw, quarantined, "abroad", latencyPace, latencyTimeout)
	for _, c := range revoked {
		err = firstErr(err, s.w.AddFinding(ctx, c, chaos.Revoking, "kp"))
	}
	sleep(ctx, time.Until(start.Add(s.cfg.outage)))
	s.w.Receiver.SetMode(chaos.Healthy)
	err = firstErr(err, s.w.PG.Server.Start())
	t.Logf("Systems back after %s; healthy system during the outage: %s", time.Since(start).Round(100*time.Millisecond), during)
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	exps := append(chaos.Expect(base, accessv1alpha1.GrantQuarantined), chaos.Expect(quarantined, accessv1alpha1.GrantQuarantined)...)
	exps = append(exps, chaos.Expect(revoked, accessv1alpha1.GrantRevoked)...)
	s.settle(&row, s.converge(ctx, exps, 3*time.Minute), ns)
	compareLatency(&row, s.cfg.latencyFloor, baseline, during)
	return row
}

// hangingReceiver: contractors with a kubernetes and a webhook grant get
// quarantining findings; the kubernetes binding changes are timed with the
// receiver healthy (the baseline), then with the receiver holding every
// delivery past the connector's timeout. The healthy system's p99 must stay
// within twice the baseline's, and once the receiver recovers every
// quarantine must reach it.
func hangingReceiver(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{Faults: fmt.Sprintf("receiver hangs past the %d s timeout", s.cfg.hookTimeout)}
	return hangBeside(ctx, t, s, row, "chaos-s4", false)
}

// twoHangingSystems: hangingReceiver with PostgreSQL frozen
// (SIGSTOP: connections hang instead of being refused) at the same time,
// so that two systems hang beside the healthy one.
func twoHangingSystems(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{Faults: fmt.Sprintf("receiver hangs past the %d s timeout and PostgreSQL frozen", s.cfg.hookTimeout)}
	return hangBeside(ctx, t, s, row, "chaos-s8", true)
}

func hangBeside(ctx context.Context, t *testing.T, s *suite, row chaos.Row, ns string, freezePG bool) chaos.Row {
	kinds := []chaos.Kind{chaos.Kubernetes, chaos.Webhook}
	if freezePG {
		kinds = append(kinds, chaos.Postgres)
	}
	base, ok := s.activate(ctx, &row, ns, "b", s.cfg.samples, kinds...)
	if !ok {
		return row
	}
	hit, ok := s.activate(ctx, &row, ns, "h", s.cfg.samples, kinds...)
	if !ok {
		return row
	}
	bw, err := chaos.WatchBindings(ctx, s.cs, chaos.QuarantineRole)
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	// Spread the findings over three delivery timeouts, so that hung
	// deliveries time out and are retried while the latency is measured.
	pace := max(latencyPace, 3*time.Duration(s.cfg.hookTimeout)*time.Second/time.Duration(max(1, len(hit))))
	baseline, err := s.w.MeasureQuarantines(ctx, bw, base, "abroad", pace, latencyTimeout)
	if err != nil {
		row.Fail("measuring the baseline: %v", err)
		return row
	}
	// Let the baseline's deliveries finish before the systems hang.
	s.converge(ctx, chaos.Expect(base, accessv1alpha1.GrantQuarantined), time.Minute)
	t.Logf("Baseline %s; the systems hang now", baseline)
	s.w.Receiver.SetMode(chaos.Hang)
	if freezePG {
		err = s.w.PG.Freeze(ctx)
	}
	during, merr := s.w.MeasureQuarantines(ctx, bw, hit, "abroad", pace, latencyTimeout)
	hung := s.w.Receiver.Stats(ns)
	s.w.Receiver.SetMode(chaos.Healthy)
	err = firstErr(firstErr(err, merr), s.w.PG.Thaw())
	t.Logf("Healthy system beside the hanging ones: %s", during)
	if err != nil {
		row.Fail("measuring beside the hanging systems: %v", err)
		return row
	}
	exps := append(chaos.Expect(base, accessv1alpha1.GrantQuarantined), chaos.Expect(hit, accessv1alpha1.GrantQuarantined)...)
	s.settle(&row, s.converge(ctx, exps, 3*time.Minute), ns)
	compareLatency(&row, s.cfg.latencyFloor, baseline, during)
	row.Note("%d deliveries reached the receiver while it hung", hung.Deliveries-hung.Applied-hung.Redeliveries)
	if !s.bulkheads {
		row.Note("the manager has no --system-concurrency flag (per-system bulkheads)")
	}
	return row
}

// compareLatency fails the row when the healthy system's p99 under the
// fault is more than twice its baseline p99, or a change never came. A
// baseline below the floor counts as the floor: tens of milliseconds
// double from a GC pause or an etcd write on a busy machine.
func compareLatency(row *chaos.Row, floor time.Duration, baseline, during chaos.Latencies) {
	row.Latency = fmt.Sprintf("%s (baseline p99 %s)", during, baseline.P99().Round(time.Millisecond))
	if during.Missing > 0 {
		row.Fail("%d kubernetes binding changes were not seen within %s", during.Missing, latencyTimeout)
	}
	limit := 2 * max(baseline.P99(), floor)
	if during.P99() > limit {
		row.Fail("the healthy system's p99 %s is more than twice its baseline p99 %s (limit %s)",
			during.P99().Round(time.Millisecond), baseline.P99().Round(time.Millisecond), limit.Round(time.Millisecond))
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
