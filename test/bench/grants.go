package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// policyV1 quarantines on geolocation findings; policyV2 also quarantines
// the contractors of the flip cohort.
const policyV1 = `package bench

quarantine contains {"msg": "seen abroad", "code": "Abroad"} if {
	some f in input.findings
	f.spec.type == "geolocation"
}
`

const policyV2 = policyV1 + `
quarantine contains {"msg": "flip cohort", "code": "Flip"} if input.contractor.metadata.labels.cohort == "flip"
`

func (b *bench) setup(ctx context.Context) ([]result, error) {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}},
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: b.system},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes, Kubernetes: &accessv1alpha1.KubernetesSettings{
				AllowedClusterRoles: []string{"edit", "view"}, AllowedNamespaces: []string{b.ns}}}},
		&accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: accessv1alpha1.AccessPolicySpec{Rego: policyV1}},
	}
	for _, o := range objs {
		if err := b.c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	// The admission policies judge no grant until they know the kinds.
	probe := b.grantFor("admission-probe")
	for {
		err := b.c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the admission policies to admit a grant: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	return []result{{"grants (kubernetes connector)",
		fmt.Sprintf("%d (%d contractors, %d each)", b.totalGrants(), b.opts.grants, b.opts.perGrantee)}}, nil
}

// asApplied gives obj, with --last-applied, the annotation in which
// kubectl apply keeps the object as applied: its manifest, in JSON.
func (b *bench) asApplied(obj client.Object, kind string) client.Object {
	if !b.opts.lastApplied {
		return obj
	}
	obj.GetObjectKind().SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind(kind))
	manifest, err := json.Marshal(obj)
	if err != nil {
		panic(err) // the harness's own objects always encode
	}
	obj.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(manifest) + "\n"})
	return obj
}

func (b *bench) contractorName(i int) string { return fmt.Sprintf("c%05d", i) }

func (b *bench) converge(ctx context.Context) ([]result, error) {
	flipEvery := int(100 / b.opts.flipPercent)
	before, err := b.countWrites(ctx, false)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = parallel(ctx, b.opts.grants, 16, func(i int) error {
		name := b.contractorName(i)
		labels := map[string]string{}
		if i%flipEvery == flipEvery-1 {
			labels["cohort"] = "flip"
		}
		c := &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name, Labels: labels},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: name, Email: name + "@example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: b.system, ID: name + "@example.com"}}}}
		if err := b.c.Create(ctx, b.asApplied(c, "Contractor")); err != nil {
			return err
		}
		for j := range b.opts.perGrantee {
			if err := b.c.Create(ctx, b.asApplied(b.nthGrant(name, j), "AccessGrant")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating contractors and grants: %w", err)
	}
	created := time.Since(start)
	for i := range b.opts.grants {
		if c := b.contractorName(i); i%flipEvery == flipEvery-1 {
			b.flips = append(b.flips, c)
		}
	}
	if err := b.waitStates(ctx, nil, accessv1alpha1.GrantActive); err != nil {
		return nil, err
	}
	converged := time.Since(start)
	after, err := b.countWrites(ctx, true)
	if err != nil {
		return nil, err
	}
	return []result{
		{"create contractors and grants", created.Round(time.Millisecond).String()},
		{"initial convergence (all grants Active, from first create)", converged.Round(time.Millisecond).String()},
		{"initial convergence: API writes by the manager per new grant",
			strconv.FormatFloat((after.manager-before.manager)/float64(b.totalGrants()), 'f', 2, 64)},
		{"initial convergence: API server writes per new grant, by resource (the harness's creates included)",
			perGrant(before.resource, after.resource, b.totalGrants())},
	}, nil
}

// waitStates polls until every named grant (all when names is nil) has
// the applied state.
func (b *bench) waitStates(ctx context.Context, names []string, state accessv1alpha1.GrantState) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for {
		list := &accessv1alpha1.AccessGrantList{}
		if err := b.c.List(ctx, list, client.InNamespace(b.ns)); err != nil {
			return err
		}
		done := 0
		for _, g := range list.Items {
			if (names == nil || want[g.Name]) && g.Status.Enforcement != nil && g.Status.Enforcement.State == state {
				done++
			}
		}
		total := len(names)
		if names == nil {
			total = b.totalGrants()
		}
		if done == total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d grants to be %s (%d are): %w", total, state, done, ctx.Err())
		case <-time.After(pollEvery(b.opts.grants)):
		}
	}
}

// pollEvery is how often waitStates lists the grants: every 200 ms, and
// less often for many grants, so that listing them does not load the
// shared cores (1 s at 10,000, 5 s at 50,000).
func pollEvery(grants int) time.Duration {
	return max(200*time.Millisecond, time.Duration(grants)*100*time.Microsecond)
}

// latency creates findings one at a time and times each until the
// contractor's binding points to the quarantine role.
func (b *bench) latency(ctx context.Context) ([]result, error) {
	w, err := b.cs.RbacV1().RoleBindings(b.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var samples []time.Duration
	for i := range b.opts.findings {
		name := b.contractorName(i * (b.opts.grants / b.opts.findings))
		binding := "portcullis-" + b.ns + "-" + name
		f := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name + "-geo"},
			Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: name},
				Type: accessv1alpha1.FindingGeolocation, Severity: accessv1alpha1.SeverityHigh, Source: "bench",
				Evidence: accessv1alpha1.Evidence{Country: "BR"}}}
		start := time.Now()
		if err := b.c.Create(ctx, f); err != nil {
			return nil, err
		}
		if err := waitBinding(ctx, w.ResultChan(), binding, "view"); err != nil {
			return nil, err
		}
		samples = append(samples, time.Since(start))
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	return []result{
		{fmt.Sprintf("finding created -> binding changed, p50 (%d findings)", len(samples)), percentile(samples, 50)},
		{fmt.Sprintf("finding created -> binding changed, p99 (%d findings)", len(samples)), percentile(samples, 99)},
	}, nil
}

func waitBinding(ctx context.Context, events <-chan watch.Event, name, role string) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for binding %s to %s: %w", name, role, ctx.Err())
		case ev, ok := <-events:
			if !ok {
				return errors.New("the binding watch closed")
			}
			rb, isRB := ev.Object.(*rbacv1.RoleBinding)
			if isRB && ev.Type != watch.Deleted && rb.Name == name && rb.RoleRef.Name == role {
				return nil
			}
		}
	}
}

func percentile(sorted []time.Duration, p int) string {
	i := (len(sorted)*p+99)/100 - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i].Round(time.Millisecond).String()
}

// noop pushes a policy change that changes no decision: the sweep decides
// every grant again and must write nothing for them.
func (b *bench) noop(ctx context.Context) ([]result, error) {
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	before, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	decided, err := b.decisions(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.setPolicy(ctx, policyV1+"\n# a comment changes the revision, not the outcome\n"); err != nil {
		return nil, err
	}
	for {
		n, err := b.decisions(ctx)
		if err != nil {
			return nil, err
		}
		if n-decided >= float64(b.totalGrants()) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	swept := time.Since(start)
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	after, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	return []result{
		{"policy change flipping nothing: sweep of all grants", swept.Round(time.Millisecond).String()},
		{"policy change flipping nothing: API writes by the manager", strconv.Itoa(int(after - before))},
	}, nil
}

// quiesce waits until the manager has made no write for two seconds.
func (b *bench) quiesce(ctx context.Context) error {
	last, quiet := -1.0, 0
	for quiet < 2 {
		n, err := b.writes(ctx)
		if err != nil {
			return err
		}
		if n == last {
			quiet++
		} else {
			quiet = 0
		}
		last = n
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (b *bench) setPolicy(ctx context.Context, rego string) error {
	pol := &accessv1alpha1.AccessPolicy{}
	if err := b.c.Get(ctx, client.ObjectKey{Name: "bench"}, pol); err != nil {
		return err
	}
	pol.Spec.Rego = rego
	return b.c.Update(ctx, pol)
}

// flip pushes a policy change that flips the cohort's decisions and
// measures the time to converge and the API writes it caused.
func (b *bench) flip(ctx context.Context) ([]result, error) {
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	before, err := b.countWrites(ctx, false)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.setPolicy(ctx, policyV2); err != nil {
		return nil, err
	}
	if err := b.waitStates(ctx, b.flips, accessv1alpha1.GrantQuarantined); err != nil {
		return nil, err
	}
	converged := time.Since(start)
	if err := b.quiesce(ctx); err != nil {
		return nil, err
	}
	after, err := b.countWrites(ctx, false)
	if err != nil {
		return nil, err
	}
	return []result{
		{fmt.Sprintf("policy change flipping %d decisions (%.1f%%): converge", len(b.flips), b.opts.flipPercent), converged.Round(time.Millisecond).String()},
		{"policy change: API writes by the manager (sweep of all grants)", strconv.Itoa(int(after.manager - before.manager))},
		{"policy change: API server writes per flipped decision, by resource (the harness's policy update included)",
			perGrant(before.resource, after.resource, len(b.flips))},
	}, nil
}

// totalGrants is how many grants the harness creates.
func (b *bench) totalGrants() int { return b.opts.grants * b.opts.perGrantee }

// nthGrant is a contractor's grant number j: the first is grantFor's, the
// others grant view under the names <contractor>-<j>.
func (b *bench) nthGrant(contractor string, j int) *accessv1alpha1.AccessGrant {
	g := b.grantFor(contractor)
	if j > 0 {
		g.Name = fmt.Sprintf("%s-%d", contractor, j)
		g.Spec.Entitlement.Name = "view"
	}
	return g
}

// grantFor is the harness's grant of edit in its namespace to a contractor.
func (b *bench) grantFor(contractor string) *accessv1alpha1.AccessGrant {
	return &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: contractor},
		Spec: accessv1alpha1.AccessGrantSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: contractor},
			SystemRef:     accessv1alpha1.SystemReference{Name: b.system},
			Entitlement:   accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: "edit", Namespace: b.ns},
			Justification: "bench", Approver: "bench"}}
}
