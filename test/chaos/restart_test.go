package chaos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
)

// apiServerDown is how long kube-apiserver and etcd stay stopped.
const apiServerDown = 3 * time.Second

// apiServerRestart: quarantining findings arrive one every 200 ms; after
// half of them, kube-apiserver and etcd stop, stay down a few seconds, and
// start again on the same data and port (the manager keeps running). The
// rest of the findings are created once the API server answers again.
// Every grant must end Quarantined in its status and in the system.
func apiServerRestart(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{Faults: fmt.Sprintf("kube-apiserver and etcd stopped %s and restarted", apiServerDown)}
	const ns = "chaos-s2"
	cs, ok := s.activate(ctx, &row, ns, "s2", 8, chaos.Kubernetes, chaos.Postgres, chaos.Webhook)
	if !ok {
		return row
	}
	half := make(chan struct{})
	created := make(chan error, 1)
	go func() {
		for i, c := range cs {
			if i == len(cs)/2 {
				close(half)
			}
			if err := s.w.AddFinding(ctx, c, chaos.Quarantines, "abroad"); err != nil {
				created <- err
				return
			}
			sleep(ctx, 200*time.Millisecond)
		}
		created <- nil
	}()
	<-half
	t.Logf("Restarting kube-apiserver and etcd")
	start := time.Now()
	if err := s.cp.Restart(ctx, apiServerDown); err != nil {
		row.Fail("restarting the API server: %v", err)
		return row
	}
	t.Logf("API server back after %s", time.Since(start).Round(100*time.Millisecond))
	if err := <-created; err != nil {
		row.Fail("creating findings: %v", err)
		return row
	}
	out := s.converge(ctx, chaos.Expect(cs, accessv1alpha1.GrantQuarantined), 3*time.Minute)
	s.settle(&row, out, ns)
	return row
}
