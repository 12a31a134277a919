package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
)

// guardConfigMap is where the manager keeps the guard's window.
const guardConfigMap = "portcullis-guard"

// guardWindow: the manager runs with a small guard budget (and no
// percentage) on a fresh window; three times the budget in revocations
// arrive at once, and the manager is SIGKILLed twice while it works through
// them. No more than the budget may be revoked in the window, and every
// other grant must be visibly held (heldSince) with its access intact.
func guardWindow(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	budget := max(1, s.cfg.guardBudget)
	n := 3 * budget
	row := chaos.Row{Faults: fmt.Sprintf("guard budget %d, %d revocations, 2 SIGKILLs", budget, n)}
	const ns = "chaos-s6"
	cs, ok := s.activate(ctx, &row, ns, "s6", n, chaos.Kubernetes)
	if !ok {
		return row
	}
	// The earlier scenarios' revocations fill the window of a budget this
	// small: start this one from an empty window.
	err := s.mgr.Kill()
	err = firstErr(err, client.IgnoreNotFound(s.w.C.Delete(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: chaos.CredentialsNamespace, Name: guardConfigMap}})))
	flags := append(s.normalFlags(), "--guard-min-budget="+strconv.Itoa(budget), "--guard-percent=0", "--guard-window=10m")
	err = firstErr(err, s.mgr.Start(flags...))
	err = firstErr(err, s.mgr.WaitReady(ctx, 90*time.Second))
	for _, c := range cs {
		err = firstErr(err, s.w.AddFinding(ctx, c, chaos.Revoking, "kp"))
	}
	for range 2 {
		sleep(ctx, s.between(200*time.Millisecond, 1500*time.Millisecond))
		err = firstErr(err, s.restart(ctx))
	}
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	exps, revoked := guardOutcome(ctx, s, cs)
	t.Logf("%d revoked, %d held", revoked, n-revoked)
	s.settle(&row, s.w.Holds(ctx, exps, 3*time.Second), ns)
	if revoked > budget {
		row.Fail("the guard let %d revocations through in one window, more than its budget of %d", revoked, budget)
	} else if revoked < budget {
		row.Note("the guard let %d revocations through, fewer than its budget of %d", revoked, budget)
	}
	if window, err := guardWindowSize(ctx, s); err != nil {
		row.Fail("reading the guard's window: %v", err)
	} else if window > budget {
		row.Fail("the guard's stored window holds %d admissions, more than its budget of %d", window, budget)
	}
	return row
}

// guardOutcome waits until every grant is revoked or held, and returns
// what each must then be, and how many were revoked. A grant that is
// neither by the deadline is expected Revoked, and so counts as lost.
func guardOutcome(ctx context.Context, s *suite, cs []chaos.Contractor) ([]chaos.Expectation, int) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		exps, revoked, settled := guardStates(ctx, s, cs)
		if settled || time.Now().After(deadline) || ctx.Err() != nil {
			return exps, revoked
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

func guardStates(ctx context.Context, s *suite, cs []chaos.Contractor) ([]chaos.Expectation, int, bool) {
	var exps []chaos.Expectation
	revoked, settled := 0, true
	for _, c := range cs {
		e := chaos.Expectation{Contractor: c, Kind: chaos.Kubernetes, State: accessv1alpha1.GrantRevoked}
		g := &accessv1alpha1.AccessGrant{}
		err := s.w.C.Get(ctx, c.Grant(chaos.Kubernetes), g)
		enf := g.Status.Enforcement
		switch {
		case err != nil || enf == nil:
			settled = false
		case enf.HeldSince != nil:
			e.State, e.Held = enf.State, true
		case enf.State == accessv1alpha1.GrantRevoked:
			revoked++
		default:
			settled = false
		}
		exps = append(exps, e)
	}
	return exps, revoked, settled
}

// guardWindowSize is the number of admissions in the stored window.
func guardWindowSize(ctx context.Context, s *suite) (int, error) {
	cm := &corev1.ConfigMap{}
	if err := s.w.C.Get(ctx, client.ObjectKey{Namespace: chaos.CredentialsNamespace, Name: guardConfigMap}, cm); err != nil {
		return 0, err
	}
	var window []json.RawMessage
	if err := json.Unmarshal([]byte(cm.Data["window.json"]), &window); err != nil {
		return 0, fmt.Errorf("ConfigMap %s: %w", guardConfigMap, err)
	}
	return len(window), nil
}
