package offline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// GrantDecision is the decision about one grant.
type GrantDecision struct {
	// Grant is "namespace/name".
	Grant      string          `json:"grant"`
	Contractor string          `json:"contractor"`
	System     string          `json:"system"`
	Decision   policy.Decision `json:"decision"`
}

// Gather assembles the decision input of one grant from the resources, as
// the controller does from its cache.
func (r *Resources) Gather(g *accessv1alpha1.AccessGrant, now time.Time) (policy.Input, error) {
	in := policy.Input{Grant: g, Now: now}
	for i := range r.Contractors {
		c := &r.Contractors[i]
		if c.Namespace == g.Namespace && c.Name == g.Spec.ContractorRef.Name {
			in.Contractor = c
		}
	}
	if in.Contractor == nil {
		return in, fmt.Errorf("grant %s/%s: Contractor %q is not in the files: add it", g.Namespace, g.Name, g.Spec.ContractorRef.Name)
	}
	for i := range r.Systems {
		if r.Systems[i].Name == g.Spec.SystemRef.Name {
			in.System = &r.Systems[i]
		}
	}
	if in.System == nil {
		return in, fmt.Errorf("grant %s/%s: ConnectedSystem %q is not in the files: add it", g.Namespace, g.Name, g.Spec.SystemRef.Name)
	}
	for _, f := range r.Findings {
		if f.Namespace == g.Namespace && f.Spec.ContractorRef.Name == in.Contractor.Name {
			in.Findings = append(in.Findings, f)
		}
	}
	for _, e := range r.PolicyExceptions {
		if e.Namespace == g.Namespace {
			in.Exceptions = append(in.Exceptions, e)
		}
	}
	return in, nil
}

// AccessPolicies returns the AccessPolicies of the resources as engine
// policies, with regoFrom resolved against the ConfigMaps in the files.
func (r *Resources) AccessPolicies() ([]policy.Policy, error) {
	var out []policy.Policy
	for i := range r.Policies {
		p := &r.Policies[i]
		source, err := r.source(p)
		if err != nil {
			return nil, err
		}
		converted, err := policy.FromAPI(p, source)
		if err != nil {
			return nil, err
		}
		out = append(out, converted)
	}
	return out, nil
}

func (r *Resources) source(p *accessv1alpha1.AccessPolicy) (string, error) {
	ref := p.Spec.RegoFrom
	if ref == nil {
		return p.Spec.Rego, nil
	}
	for _, cm := range r.ConfigMaps {
		if cm.Namespace == ref.Namespace && cm.Name == ref.Name {
			if src, ok := cm.Data[ref.Key]; ok {
				return src, nil
			}
			return "", fmt.Errorf("AccessPolicy %s: ConfigMap %s/%s has no key %q", p.Name, ref.Namespace, ref.Name, ref.Key)
		}
	}
	return "", fmt.Errorf("AccessPolicy %s: spec.regoFrom names ConfigMap %s/%s, which is not in the files: add it or inline the source in spec.rego",
		p.Name, ref.Namespace, ref.Name)
}

// ExceptionsWithoutPolicy names each PolicyException whose spec.policy is
// none of pols, with the policy it names and the policies there are: such
// an exception exempts nothing. One sentence per exception, in
// namespace/name order.
func (r *Resources) ExceptionsWithoutPolicy(pols []policy.Policy) []string {
	known := map[string]bool{}
	names := make([]string, 0, len(pols))
	for _, p := range pols {
		if !known[p.Name] {
			known[p.Name] = true
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	exceptions := make([]*accessv1alpha1.PolicyException, 0, len(r.PolicyExceptions))
	for i := range r.PolicyExceptions {
		if e := &r.PolicyExceptions[i]; !known[e.Spec.Policy] {
			exceptions = append(exceptions, e)
		}
	}
	sort.Slice(exceptions, func(i, j int) bool {
		return exceptions[i].Namespace+"/"+exceptions[i].Name < exceptions[j].Namespace+"/"+exceptions[j].Name
	})
	out := make([]string, 0, len(exceptions))
	for _, e := range exceptions {
		out = append(out, fmt.Sprintf("PolicyException %s/%s names policy %q, which is not among the policies evaluated (%s): it exempts nothing; fix spec.policy",
			e.Namespace, e.Name, e.Spec.Policy, strings.Join(names, ", ")))
	}
	return out
}

// ModulePolicies turns library modules into enforcing policies named after
// their files.
func ModulePolicies(modules []policy.Module) []policy.Policy {
	out := make([]policy.Policy, 0, len(modules))
	for _, m := range modules {
		out = append(out, policy.Policy{Name: m.Name, Source: m.Source, File: m.File})
	}
	return out
}

// NewEngine compiles the policies into a fresh engine with the given data.
// Every compile error is reported, each as file:line:col.
func NewEngine(ctx context.Context, data map[string]any, pols []policy.Policy) (*policy.OPAEngine, error) {
	engine, err := policy.NewEngine(policy.Options{Data: data})
	if err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for _, p := range pols {
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("two policies are named %q: rename one", p.Name))
			continue
		}
		seen[p.Name] = true
		if _, err := engine.Upsert(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return engine, errors.Join(errs...)
}

// DecideAll decides every grant of the resources, in namespace/name order.
func (r *Resources) DecideAll(ctx context.Context, engine policy.Engine, now time.Time) ([]GrantDecision, error) {
	grants := r.sortedGrants()
	out := make([]GrantDecision, 0, len(grants))
	for _, g := range grants {
		in, err := r.Gather(g, now)
		if err != nil {
			return nil, err
		}
		d, err := engine.Decide(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("deciding grant %s: %w", grantKey(g), err)
		}
		out = append(out, GrantDecision{Grant: grantKey(g), Contractor: g.Spec.ContractorRef.Name, System: g.Spec.SystemRef.Name, Decision: d})
	}
	return out, nil
}

// sortedGrants returns the grants of the resources in namespace/name order.
func (r *Resources) sortedGrants() []*accessv1alpha1.AccessGrant {
	grants := make([]*accessv1alpha1.AccessGrant, 0, len(r.Grants))
	for i := range r.Grants {
		grants = append(grants, &r.Grants[i])
	}
	sort.Slice(grants, func(i, j int) bool { return grantKey(grants[i]) < grantKey(grants[j]) })
	return grants
}

func grantKey(g *accessv1alpha1.AccessGrant) string {
	return g.Namespace + "/" + g.Name
}

// InputBuilder builds the input document a decision evaluates
// (*policy.OPAEngine is one).
type InputBuilder interface {
	InputDocument(in policy.Input) (any, error)
}

// GrantInput is the input document the engine evaluates for one grant.
type GrantInput struct {
	// Grant is "namespace/name".
	Grant string
	Input any
}

// InputsAll returns the input document of every grant of the resources, in
// namespace/name order, gathered as DecideAll gathers them.
func (r *Resources) InputsAll(engine InputBuilder, now time.Time) ([]GrantInput, error) {
	grants := r.sortedGrants()
	out := make([]GrantInput, 0, len(grants))
	for _, g := range grants {
		in, err := r.Gather(g, now)
		if err != nil {
			return nil, err
		}
		doc, err := engine.InputDocument(in)
		if err != nil {
			return nil, fmt.Errorf("building the input of grant %s: %w", grantKey(g), err)
		}
		out = append(out, GrantInput{Grant: grantKey(g), Input: doc})
	}
	return out, nil
}
