package chaos_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
)

// recreatedGrant: grants are revoked, their findings deleted, the grants
// deleted and, after a manager SIGKILL, created again with the same names
// and specs, as a GitOps tool re-syncing its repository would. The new
// grants must end Revoked, with nothing granted in any system and no
// activation sent to the receiver.
func recreatedGrant(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{Faults: "findings deleted, grants deleted and re-created, 1 SIGKILL"}
	const ns = "chaos-s7"
	cs, ok := s.activate(ctx, &row, ns, "s7", 3, chaos.Kubernetes, chaos.Postgres, chaos.Webhook)
	if !ok {
		return row
	}
	var err error
	for _, c := range cs {
		err = firstErr(err, s.w.AddFinding(ctx, c, chaos.Revoking, "kp"))
	}
	exps := chaos.Expect(cs, accessv1alpha1.GrantRevoked)
	if out := s.w.WaitVerified(ctx, exps, false, 2*time.Minute); err != nil || out.Applied < out.Expected {
		row.Fail("setup: the grants were not revoked (%v): %s", err, chaos.ListSome(out.Lost, 5))
		return row
	}
	t.Logf("Revoked; deleting the findings and the grants")
	err = deleteAll(ctx, s, ns, &accessv1alpha1.Finding{})
	err = firstErr(err, deleteAll(ctx, s, ns, &accessv1alpha1.AccessGrant{}))
	err = firstErr(err, waitNoGrants(ctx, s, ns))
	err = firstErr(err, s.restart(ctx))
	edits, werr := chaos.WatchBindings(ctx, s.cs, chaos.EditRole)
	err = firstErr(err, werr)
	t.Logf("Re-creating the grants")
	for _, c := range cs {
		for _, k := range c.Kinds {
			err = firstErr(err, s.w.Create(ctx, chaos.NewGrant(c, k)))
		}
	}
	err = firstErr(err, waitDecided(ctx, s, ns, len(exps)))
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	out := s.w.Holds(ctx, exps, 5*time.Second)
	for key, how := range grantedOnTheWay(ctx, s, edits, cs) {
		// Given and taken away again is lost too: the entitlement came back.
		if !slices.ContainsFunc(out.Lost, func(l string) bool { return strings.HasPrefix(l, key+" ") }) {
			out.Applied--
			out.Lost = append(out.Lost, key+" -> Revoked: "+how)
		}
	}
	s.settle(&row, out, ns)
	return row
}

// grantedOnTheWay returns the re-created grants whose entitlement was given
// at some point, even if it was taken away again: a kubernetes binding to
// the entitlement seen by the watch, or an activation the receiver applied.
// (PostgreSQL is only checked at the end.)
func grantedOnTheWay(ctx context.Context, s *suite, edits *chaos.BindingWatch, cs []chaos.Contractor) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		if key := c.Grant(chaos.Kubernetes).String(); hasSeen(edits, key) {
			out[key] = "was bound to " + chaos.EditRole + " after its re-creation"
		}
		g := &accessv1alpha1.AccessGrant{}
		if err := s.w.C.Get(ctx, c.Grant(chaos.Webhook), g); err != nil {
			continue
		}
		if slices.Contains(s.w.Receiver.Applied(string(g.UID)), string(accessv1alpha1.GrantActive)) {
			out[c.Grant(chaos.Webhook).String()] = "was activated at the receiver after its re-creation"
		}
	}
	return out
}

func hasSeen(bw *chaos.BindingWatch, key string) bool {
	_, seen := bw.Seen(key)
	return seen
}

// deleteAll deletes every object of a kind in ns.
func deleteAll(ctx context.Context, s *suite, ns string, obj client.Object) error {
	if err := s.w.C.DeleteAllOf(ctx, obj, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %T in %s: %w", obj, ns, err)
	}
	return nil
}

// waitNoGrants waits until the deleted grants are gone: their finalizer
// removes their entitlement first.
func waitNoGrants(ctx context.Context, s *suite, ns string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		list := &accessv1alpha1.AccessGrantList{}
		err := s.w.C.List(ctx, list, client.InNamespace(ns))
		if err == nil && len(list.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("listing grants: %w", err)
			}
			return fmt.Errorf("%d deleted grants still there after a minute", len(list.Items))
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// waitDecided waits until n grants in ns have an applied state other than
// Pending: the controller has decided and enforced them.
func waitDecided(ctx context.Context, s *suite, ns string, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		list := &accessv1alpha1.AccessGrantList{}
		decided := 0
		if err := s.w.C.List(ctx, list, client.InNamespace(ns)); err == nil {
			for _, g := range list.Items {
				if e := g.Status.Enforcement; e != nil && e.State != accessv1alpha1.GrantPending {
					decided++
				}
			}
		}
		if decided >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d re-created grants decided after a minute", decided, n)
		}
		sleep(ctx, 200*time.Millisecond)
	}
}
