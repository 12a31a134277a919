package chaos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
)

// killsDuringRevocations: contractors with grants on the kubernetes,
// postgres and webhook systems get revoking findings a few at a time while
// the manager is SIGKILLed at random points and started again. Half of the
// kills land 0.1–2 s after the manager's start (while it syncs and loads
// policies), half 0.1–2 s after it became ready (while it reconciles).
// Every grant must end Revoked in its status, in the system and with a
// Revoked Event.
func killsDuringRevocations(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{}
	const ns = "chaos-s1"
	all := []chaos.Kind{chaos.Kubernetes, chaos.Postgres, chaos.Webhook}
	cs, ok := s.activate(ctx, &row, ns, "s1", s.cfg.contractors, all...)
	if !ok {
		return row
	}
	kills := s.cfg.kills
	row.Faults = fmt.Sprintf("%d manager SIGKILLs 0.1-2 s apart", kills)
	perKill := max(1, (len(cs)+max(1, kills/2)-1)/max(1, kills/2))
	next := 0
	for i := range kills {
		if i%2 == 1 {
			if err := s.mgr.WaitReady(ctx, 90*time.Second); err != nil {
				row.Fail("kill %d: %v", i+1, err)
				return row
			}
		}
		for j := 0; j < perKill && next < len(cs); j++ {
			if err := s.w.AddFinding(ctx, cs[next], chaos.Revoking, "kp"); err != nil {
				row.Fail("creating a finding: %v", err)
				return row
			}
			next++
		}
		sleep(ctx, s.between(100*time.Millisecond, 2*time.Second))
		if err := s.mgr.Kill(); err != nil {
			row.Fail("kill %d: %v", i+1, err)
			return row
		}
		if err := s.mgr.Start(s.mgr.Flags()...); err != nil {
			row.Fail("start after kill %d: %v", i+1, err)
			return row
		}
	}
	for ; next < len(cs); next++ {
		if err := s.w.AddFinding(ctx, cs[next], chaos.Revoking, "kp"); err != nil {
			row.Fail("creating a finding: %v", err)
			return row
		}
	}
	t.Logf("%d kills done; waiting for every revocation", kills)
	if err := s.mgr.WaitReady(ctx, 90*time.Second); err != nil {
		row.Fail("after the kills: %v", err)
	}
	out := s.converge(ctx, chaos.Expect(cs, accessv1alpha1.GrantRevoked), 3*time.Minute)
	s.settle(&row, out, ns)
	return row
}
