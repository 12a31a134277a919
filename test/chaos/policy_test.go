package chaos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
)

// quarantineRego quarantines on custom findings.
const quarantineRego = `package chaos.s5

quarantine contains {"msg": "a custom finding", "code": "ChaosCustom", "severity": "High"} if {
	some f in input.findings
	f.spec.type == "custom"
}
`

// brokenRego does not compile: the rule body is cut short.
const brokenRego = `package chaos.s5

quarantine contains {"msg": "a custom finding", "code": "ChaosCustom"} if {
	some f in input.findings
	f.spec.type ==
`

// brokenPolicy: a policy for this scenario's contractors quarantines them,
// then an update that does not compile is applied, then the manager is
// SIGKILLed and started again, and new findings make it decide again. The
// policy's failurePolicy is Ignore, so the grants stay quarantined only if
// the restarted manager goes on enforcing the last good revision; they
// must stay quarantined in their status and in every system, without one
// delivery to the receiver.
func brokenPolicy(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{Faults: "policy update that fails to compile, then 1 SIGKILL"}
	const ns = "chaos-s5"
	cs, ok := s.activate(ctx, &row, ns, "s5", 4, chaos.Kubernetes, chaos.Postgres, chaos.Webhook)
	if !ok {
		return row
	}
	pol := &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: accessv1alpha1.AccessPolicySpec{Rego: quarantineRego, FailurePolicy: accessv1alpha1.FailureIgnore,
			ContractorSelector: &metav1.LabelSelector{MatchLabels: map[string]string{chaos.LabelScenario: ns}}}}
	err := s.w.Create(ctx, pol)
	err = firstErr(err, waitPolicy(ctx, s, ns, accessv1alpha1.ReasonCompiled))
	for _, c := range cs {
		err = firstErr(err, s.w.AddFinding(ctx, c, accessv1alpha1.FindingCustom, "custom"))
	}
	if err != nil {
		row.Fail("setup: %v", err)
		return row
	}
	exps := chaos.Expect(cs, accessv1alpha1.GrantQuarantined)
	if out := s.w.WaitVerified(ctx, exps, false, 2*time.Minute); out.Applied < out.Expected {
		row.Fail("setup: the policy did not quarantine: %s", chaos.ListSome(out.Lost, 5))
		return row
	}
	before := s.w.Receiver.Stats(ns)
	t.Logf("Quarantined; applying a policy that does not compile")
	err = setRego(ctx, s, ns, brokenRego)
	err = firstErr(err, waitPolicy(ctx, s, ns, accessv1alpha1.ReasonCompileError))
	err = firstErr(err, s.restart(ctx))
	for _, c := range cs {
		err = firstErr(err, s.w.AddFinding(ctx, c, accessv1alpha1.FindingCustom, "custom-again"))
	}
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	out := s.w.Holds(ctx, exps, 8*time.Second)
	s.settle(&row, out, ns)
	if after := s.w.Receiver.Stats(ns); after.Deliveries != before.Deliveries {
		row.Fail("the receiver got %d deliveries after the broken update", after.Deliveries-before.Deliveries)
	}
	return row
}

// setRego replaces the policy's source.
func setRego(ctx context.Context, s *suite, name, rego string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pol := &accessv1alpha1.AccessPolicy{}
		if err := s.w.C.Get(ctx, client.ObjectKey{Name: name}, pol); err != nil {
			return err
		}
		pol.Spec.Rego = rego
		return s.w.C.Update(ctx, pol)
	})
}

// waitPolicy waits until the policy's Ready condition, for its current
// generation, has reason.
func waitPolicy(ctx context.Context, s *suite, name, reason string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		pol := &accessv1alpha1.AccessPolicy{}
		err := s.w.C.Get(ctx, client.ObjectKey{Name: name}, pol)
		if err == nil {
			for _, c := range pol.Status.Conditions {
				if c.Type == accessv1alpha1.ConditionReady && c.Reason == reason && c.ObservedGeneration == pol.Generation {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("reading AccessPolicy %s: %w", name, err)
			}
			return fmt.Errorf("AccessPolicy %s never reached Ready reason %s: %+v", name, reason, pol.Status.Conditions)
		}
		sleep(ctx, 200*time.Millisecond)
	}
}
