package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// The guard step shows the blast-radius guard at work on a real control
// plane. The performance steps run the manager with a budget nobody
// reaches, so each of its two parts runs a `portcullis dev` of its own,
// with a budget of guardBudget per hour whatever the number of grants and
// the default severe reserve, on a fresh window.
const (
	guardBudget     = 20  // --guard-min-budget, with --guard-percent=0
	guardReserve    = 50  // --guard-severe-reserve: percent of the budget kept for Critical evidence
	guardPushGrants = 200 // grants the bad push would quarantine
	guardWeak       = 40  // contractors with a shared-device finding: twice the budget
	guardSanctioned = 5   // contractors with a finding from KP: fewer than the reserve
	guardPartLimit  = 2 * time.Minute
)

// guardShare is what the severe reserve leaves of the budget to the
// transitions that Critical evidence does not back.
const guardShare = guardBudget - guardBudget*guardReserve/100

// badPush is policyV1 with a mistake that matches every contractor.
const badPush = policyV1 + `
quarantine contains {"msg": "claims a country", "code": "BadPush"} if input.contractor.spec.claimedLocation.country
`

// guard runs the bad push, then the day-one burst, each against a manager
// of its own.
func (b *bench) guard(ctx context.Context) ([]result, error) {
	var results []result
	for _, part := range []func(context.Context, *bench) ([]result, error){guardBadPush, guardDayOne} {
		r, err := b.withGuardDev(ctx, part)
		if err != nil {
			return nil, err
		}
		results = append(results, r...)
	}
	return results, nil
}

// withGuardDev runs part against a new `portcullis dev` with the guard's
// budget, and stops it after.
func (b *bench) withGuardDev(ctx context.Context, part func(context.Context, *bench) ([]result, error)) ([]result, error) {
	d, err := startGuardDev(b.opts)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	gb, err := newBench(d, b.opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, guardPartLimit)
	defer cancel()
	return part(ctx, gb)
}

// startGuardDev is startDev with the guard's budget and without the
// sign-in endpoint or the policy library: each part installs the policies
// it needs.
func startGuardDev(opts options) (*dev, error) {
	return startDev(opts, "--ingest-bind-address=0", "--policy-library=false", "--guard-min-budget="+strconv.Itoa(guardBudget),
		"--guard-percent=0", "--guard-window=1h", "--guard-severe-reserve="+strconv.Itoa(guardReserve))
}

// guardBadPush: with guardPushGrants grants Active, a policy push
// quarantines every one of them. The guard lets at most its budget through
// and holds the rest.
func guardBadPush(ctx context.Context, b *bench) ([]result, error) {
	b.opts.grants, b.opts.perGrantee = guardPushGrants, 1
	if _, err := b.setup(ctx); err != nil {
		return nil, err
	}
	if _, err := b.converge(ctx); err != nil {
		return nil, err
	}
	if err := b.setPolicy(ctx, badPush); err != nil {
		return nil, err
	}
	t, err := b.settle(ctx, nil, accessv1alpha1.GrantQuarantined)
	if err != nil {
		return nil, fmt.Errorf("bad push: %w", err)
	}
	if t.applied > guardBudget {
		return nil, fmt.Errorf("bad push: the guard let %d quarantines through, more than its budget of %d", t.applied, guardBudget)
	}
	return []result{{fmt.Sprintf("guard, bad push (a policy quarantining all %d grants)", guardPushGrants),
		fmt.Sprintf("quarantined %d, held %d (budget %d, %d of it kept for Critical evidence)",
			t.applied, t.held, guardBudget, guardBudget-guardShare)}}, nil
}

// guardDayOne: the default library decides; a burst of weaker findings (a
// device shared with another contractor, High) arrives for more
// contractors than the budget,
// then findings from a sanctioned country (Critical) for a few others. The
// weak quarantines stop at their share; every sanctioned revocation
// applies.
func guardDayOne(ctx context.Context, b *bench) ([]result, error) {
	b.opts.grants, b.opts.perGrantee = guardWeak+guardSanctioned, 1
	var weak, sanctioned []string
	for i := range b.opts.grants {
		if i < guardWeak {
			weak = append(weak, b.contractorName(i))
		} else {
			sanctioned = append(sanctioned, b.contractorName(i))
		}
	}
	if err := b.setupLibrary(ctx); err != nil {
		return nil, err
	}
	if err := b.verifiedGrants(ctx); err != nil {
		return nil, err
	}
	if err := b.waitStates(ctx, nil, accessv1alpha1.GrantActive); err != nil {
		return nil, err
	}
	if err := b.addFindings(ctx, weak, b.sharedDeviceFinding); err != nil {
		return nil, err
	}
	if _, err := b.settle(ctx, weak, accessv1alpha1.GrantQuarantined); err != nil {
		return nil, fmt.Errorf("day-one burst, shared-device findings: %w", err)
	}
	if err := b.addFindings(ctx, sanctioned, b.sanctionedFinding); err != nil {
		return nil, err
	}
	s, err := b.settle(ctx, sanctioned, accessv1alpha1.GrantRevoked)
	if err != nil {
		return nil, fmt.Errorf("day-one burst, sanctioned-country findings: %w", err)
	}
	w, err := b.tally(ctx, weak, accessv1alpha1.GrantQuarantined)
	if err != nil {
		return nil, err
	}
	if s.applied != guardSanctioned {
		return nil, fmt.Errorf("day-one burst: the guard holds %d of %d sanctioned-country revocations", s.held, guardSanctioned)
	}
	if w.applied > guardShare {
		return nil, fmt.Errorf("day-one burst: the guard let %d weak quarantines through, more than their share of %d", w.applied, guardShare)
	}
	return []result{{fmt.Sprintf("guard, day-one burst (%d shared-device findings, then %d from KP; budget %d)", guardWeak, guardSanctioned, guardBudget),
		fmt.Sprintf("sanctioned revocations applied %d/%d, weak quarantines applied %d (share %d), held %d",
			s.applied, guardSanctioned, w.applied, guardShare, w.held+s.held)}}, nil
}

// setupLibrary runs setup (whose policy ignores the findings of this part)
// and adds the default policy library, as config/policies installs it.
func (b *bench) setupLibrary(ctx context.Context) error {
	if _, err := b.setup(ctx); err != nil {
		return err
	}
	modules, err := policy.DefaultModules()
	if err != nil {
		return err
	}
	for _, m := range modules {
		p := &accessv1alpha1.AccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: m.Name, Labels: map[string]string{"portcullis.dev/library": "default"}},
			Spec:       accessv1alpha1.AccessPolicySpec{Description: m.Description, Rego: m.Source}}
		if err := b.c.Create(ctx, p); err != nil {
			return fmt.Errorf("creating policy %s: %w", m.Name, err)
		}
	}
	return b.waitPolicies(ctx)
}

// waitPolicies waits until every AccessPolicy is compiled and in use.
func (b *bench) waitPolicies(ctx context.Context) error {
	for {
		list := &accessv1alpha1.AccessPolicyList{}
		if err := b.c.List(ctx, list); err != nil {
			return err
		}
		ready := 0
		for _, p := range list.Items {
			if p.Status.ObservedGeneration == p.Generation && meta.IsStatusConditionTrue(p.Status.Conditions, accessv1alpha1.ConditionReady) {
				ready++
			}
		}
		if ready == len(list.Items) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d policies to compile (%d have): %w", len(list.Items), ready, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// verifiedGrants creates b.opts.grants contractors, each with a passed
// identity document check (without one, the library's risk model counts
// it against them), and a grant each.
func (b *bench) verifiedGrants(ctx context.Context) error {
	done := metav1.Now()
	expires := metav1.NewTime(done.AddDate(1, 0, 0))
	err := parallel(ctx, b.opts.grants, 8, func(i int) error {
		name := b.contractorName(i)
		c := &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: name, Email: name + "@example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: b.system, ID: name + "@example.com"}},
				VerificationChecks: []accessv1alpha1.VerificationCheck{{Type: "Document", Result: accessv1alpha1.VerificationPassed,
					Provider: "bench", DocumentCountry: "US", CompletedAt: &done, ExpiresAt: &expires}}}}
		if err := b.c.Create(ctx, c); err != nil {
			return err
		}
		return b.c.Create(ctx, b.grantFor(name))
	})
	if err != nil {
		return fmt.Errorf("creating verified contractors and grants: %w", err)
	}
	return nil
}

// addFindings creates a finding for each named contractor, at once.
func (b *bench) addFindings(ctx context.Context, names []string, finding func(string) *accessv1alpha1.Finding) error {
	err := parallel(ctx, len(names), 8, func(i int) error { return b.c.Create(ctx, finding(names[i])) })
	if err != nil {
		return fmt.Errorf("creating findings: %w", err)
	}
	return nil
}

// sharedDeviceFinding is evidence short of Critical: a device shared with
// another contractor, which the library's risk model quarantines (risk 6,
// reasons of High severity).
func (b *bench) sharedDeviceFinding(contractor string) *accessv1alpha1.Finding {
	return &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: contractor + "-shared"},
		Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: contractor},
			Type: accessv1alpha1.FindingSharedInfrastructure, Severity: accessv1alpha1.SeverityHigh, Source: "bench",
			Evidence: accessv1alpha1.Evidence{DeviceID: "farm-laptop", RelatedContractors: []string{"someone-else"}}}}
}

// sanctionedFinding is Critical evidence: activity from North Korea, which
// the library revokes (SanctionedCountry).
func (b *bench) sanctionedFinding(contractor string) *accessv1alpha1.Finding {
	return &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: contractor + "-kp"},
		Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: contractor},
			Type: accessv1alpha1.FindingSanctionedCountry, Severity: accessv1alpha1.SeverityCritical, Source: "bench",
			Evidence: accessv1alpha1.Evidence{IP: "175.45.176.1", Country: "KP"}}}
}

// guardTally counts grants by what became of a restrictive decision:
// applied (in the restricted state), held by the guard, or not yet either.
type guardTally struct {
	applied, held, pending int
}

// tally counts the named grants (all b.opts.grants when names is nil).
func (b *bench) tally(ctx context.Context, names []string, state accessv1alpha1.GrantState) (guardTally, error) {
	list := &accessv1alpha1.AccessGrantList{}
	if err := b.c.List(ctx, list, client.InNamespace(b.ns)); err != nil {
		return guardTally{}, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var t guardTally
	for _, g := range list.Items {
		enf := g.Status.Enforcement
		switch {
		case names != nil && !want[g.Name], enf == nil:
		case enf.HeldSince != nil:
			t.held++
		case enf.State == state:
			t.applied++
		}
	}
	total := len(names)
	if names == nil {
		total = b.opts.grants
	}
	t.pending = total - t.applied - t.held
	return t, nil
}

// settle waits until every named grant is in state or held and the manager
// has stopped writing, and counts them then.
func (b *bench) settle(ctx context.Context, names []string, state accessv1alpha1.GrantState) (guardTally, error) {
	for {
		t, err := b.tally(ctx, names, state)
		if err != nil {
			return t, err
		}
		if t.pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("waiting for %d grants to be %s or held (%d are, %d held): %w",
				t.pending, state, t.applied, t.held, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := b.quiesce(ctx); err != nil {
		return guardTally{}, err
	}
	return b.tally(ctx, names, state)
}
