package chaos

import (
	"context"
	"fmt"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
)

// Expectation is one transition a scenario drives: the contractor's grant
// on a kind of system must end in State, both in its status and in the
// system itself.
type Expectation struct {
	Contractor Contractor
	Kind       Kind
	State      accessv1alpha1.GrantState
	// Held means the blast-radius guard must hold the grant's transition:
	// status.enforcement.heldSince is set and State is still applied.
	Held bool
}

func (e Expectation) String() string {
	if e.Held {
		return fmt.Sprintf("%s held in %s", e.Contractor.Grant(e.Kind), e.State)
	}
	return fmt.Sprintf("%s -> %s", e.Contractor.Grant(e.Kind), e.State)
}

// Outcome is what a verification found.
type Outcome struct {
	// Expected and Applied count transitions; Applied ones are right in
	// the grant's status and in the system.
	Expected, Applied int
	// Lost says, for each transition not applied, what is wrong.
	Lost []string
	// MissingEvents lists applied transitions without their Event.
	MissingEvents []string
}

// observed is one read of everything the expectations touch.
type observed struct {
	grants   map[string]*accessv1alpha1.AccessGrant
	bindings map[string]*rbacv1.RoleBinding
	pg       map[string]RoleState
	events   map[string]bool // uid + "/" + reason
}

// Verify reads the grants, the bindings, PostgreSQL, the receiver and (with
// events) the Events, and checks every expectation against them.
func (w *World) Verify(ctx context.Context, exps []Expectation, events bool) (Outcome, error) {
	obs, err := w.observe(ctx, exps, events)
	if err != nil {
		return Outcome{Expected: len(exps)}, err
	}
	out := Outcome{Expected: len(exps)}
	for _, e := range exps {
		if problem := w.check(obs, e); problem != "" {
			out.Lost = append(out.Lost, e.String()+": "+problem)
			continue
		}
		out.Applied++
		g := obs.grants[e.Contractor.Grant(e.Kind).String()]
		if events && !obs.events[string(g.UID)+"/"+string(e.State)] {
			out.MissingEvents = append(out.MissingEvents, e.String())
		}
	}
	return out, nil
}

func (w *World) observe(ctx context.Context, exps []Expectation, events bool) (*observed, error) {
	obs := &observed{grants: map[string]*accessv1alpha1.AccessGrant{}, bindings: map[string]*rbacv1.RoleBinding{},
		events: map[string]bool{}}
	namespaces := map[string]bool{}
	var accounts []string
	for _, e := range exps {
		namespaces[e.Contractor.Namespace] = true
		if e.Kind == Postgres {
			accounts = append(accounts, e.Contractor.Account(Postgres))
		}
	}
	for ns := range namespaces {
		grants := &accessv1alpha1.AccessGrantList{}
		if err := w.C.List(ctx, grants, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing grants: %w", err)
		}
		for i := range grants.Items {
			g := &grants.Items[i]
			obs.grants[ns+"/"+g.Name] = g
		}
		if events {
			if err := w.observeEvents(ctx, ns, obs); err != nil {
				return nil, err
			}
		}
	}
	bindings := &rbacv1.RoleBindingList{}
	if err := w.C.List(ctx, bindings, client.InNamespace(AppsNamespace),
		client.MatchingLabels{k8sconnector.LabelManagedBy: k8sconnector.ManagedByValue}); err != nil {
		return nil, fmt.Errorf("listing bindings: %w", err)
	}
	for i := range bindings.Items {
		b := &bindings.Items[i]
		obs.bindings[b.Labels[k8sconnector.LabelGrantNamespace]+"/"+b.Labels[k8sconnector.LabelGrantName]] = b
	}
	if len(accounts) > 0 {
		states, err := w.PG.States(ctx, DBEntitlement, accounts)
		if err != nil {
			return nil, err
		}
		obs.pg = states
	}
	return obs, nil
}

func (w *World) observeEvents(ctx context.Context, ns string, obs *observed) error {
	list := &eventsv1.EventList{}
	if err := w.C.List(ctx, list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing events: %w", err)
	}
	for _, ev := range list.Items {
		obs.events[string(ev.Regarding.UID)+"/"+ev.Reason] = true
	}
	return nil
}

// check returns what is wrong with one expectation, or "".
func (w *World) check(obs *observed, e Expectation) string {
	key := e.Contractor.Grant(e.Kind).String()
	g := obs.grants[key]
	if g == nil {
		return "the grant is missing"
	}
	enf := g.Status.Enforcement
	switch {
	case enf == nil:
		return "status: nothing applied yet"
	case e.Held && enf.HeldSince == nil:
		return "status: not held by the guard"
	case !e.Held && enf.HeldSince != nil:
		return fmt.Sprintf("status: held by the guard since %s", enf.HeldSince.Format(time.RFC3339))
	case enf.State != e.State || enf.LastError != "":
		return fmt.Sprintf("status: %s (attempts %d, last error %q)", enf.State, enf.Attempts, enf.LastError)
	}
	return w.checkSystem(obs, e, g)
}

// checkSystem compares the system itself with the expected state.
func (w *World) checkSystem(obs *observed, e Expectation, g *accessv1alpha1.AccessGrant) string {
	switch e.Kind {
	case Kubernetes:
		return bindingProblem(obs.bindings[e.Contractor.Grant(e.Kind).String()], e.State)
	case Postgres:
		return roleProblem(obs.pg[e.Contractor.Account(Postgres)], e.State)
	case Webhook:
		last, ok := w.Receiver.Last(string(g.UID))
		if !ok || last != string(e.State) {
			return fmt.Sprintf("receiver: last applied %q, applied %v", last, w.Receiver.Applied(string(g.UID)))
		}
	}
	return ""
}

func bindingProblem(b *rbacv1.RoleBinding, state accessv1alpha1.GrantState) string {
	want := map[accessv1alpha1.GrantState]string{accessv1alpha1.GrantActive: EditRole, accessv1alpha1.GrantQuarantined: QuarantineRole}[state]
	switch {
	case want == "" && b != nil:
		return "binding " + b.Name + " to " + b.RoleRef.Name + " still exists"
	case want != "" && b == nil:
		return "no binding"
	case want != "" && b.RoleRef.Name != want:
		return "binding " + b.Name + " is to " + b.RoleRef.Name + ", not " + want
	}
	return ""
}

func roleProblem(s RoleState, state accessv1alpha1.GrantState) string {
	switch {
	case !s.Exists:
		return "postgres: the login role is missing"
	case state == accessv1alpha1.GrantActive && (!s.Member || !s.CanLogin):
		return fmt.Sprintf("postgres: member %t, login %t", s.Member, s.CanLogin)
	case state == accessv1alpha1.GrantQuarantined && s.CanLogin:
		return "postgres: the role can still log in"
	case (state == accessv1alpha1.GrantRevoked || state == accessv1alpha1.GrantExpired) && s.Member:
		return "postgres: still a member of " + DBEntitlement
	}
	return ""
}

// WaitVerified verifies until every expectation holds (with its Event,
// when events is set) or timeout passes, and returns the last outcome.
func (w *World) WaitVerified(ctx context.Context, exps []Expectation, events bool, timeout time.Duration) Outcome {
	deadline := time.Now().Add(timeout)
	for {
		out, err := w.Verify(ctx, exps, events)
		done := err == nil && out.Applied == out.Expected && (!events || len(out.MissingEvents) == 0)
		if done || time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				out.Lost = append(out.Lost, "could not verify: "+err.Error())
			}
			return out
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Holds verifies every half second for d and returns the first outcome
// that falls short, or the last one: a state that must not flap.
func (w *World) Holds(ctx context.Context, exps []Expectation, d time.Duration) Outcome {
	deadline := time.Now().Add(d)
	for {
		out, err := w.Verify(ctx, exps, false)
		if err != nil {
			out.Lost = append(out.Lost, "could not verify: "+err.Error())
		}
		if err != nil || out.Applied < out.Expected || time.Now().After(deadline) || ctx.Err() != nil {
			return out
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
