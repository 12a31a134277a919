package policy

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// typicalInput is a verified contractor with a travel notice, an account,
// five findings and one exception: what a grant of an active contractor
// looks like.
func typicalInput() Input {
	in := testInput(
		finding("geolocation", "CA"), finding("geolocation", "US"), anonymizer("vpn", 64513),
		finding("impossible-travel", "SG"), finding("remote-access-tool", "US"),
	)
	verifiedContractor(&in)
	in.Contractor.Spec.TravelNotices = []accessv1alpha1.TravelNotice{{
		Country: "CA", From: metav1.Time{Time: testNow.AddDate(0, 0, -2)}, Until: metav1.Time{Time: testNow.AddDate(0, 0, 3)},
	}}
	in.Contractor.Spec.Accounts = []accessv1alpha1.Account{{System: "k8s", ID: "sam@example.com"}}
	in.Exceptions = []accessv1alpha1.PolicyException{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "vpn-ok"},
		Spec: accessv1alpha1.PolicyExceptionSpec{
			ContractorRef: &accessv1alpha1.ContractorReference{Name: "sam"}, Policy: "risk",
			Codes: []string{"CommercialVPN"}, ExpiresAt: metav1.Time{Time: testNow.AddDate(0, 1, 0)},
		},
	}}
	return in
}

// BenchmarkDecide decides one typical grant with the default library
// through the engine: input conversion, every policy, reason parsing and
// exceptions.
func BenchmarkDecide(b *testing.B) {
	e := libraryEngine(b)
	in := typicalInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideParallel is BenchmarkDecide from every core at once.
func BenchmarkDecideParallel(b *testing.B) {
	e := libraryEngine(b)
	in := typicalInput()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Decide(context.Background(), in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOPADirect evaluates the same modules on the same input with
// OPA's prepared queries alone, the input converted once: the floor that
// BenchmarkDecide's overhead is measured against.
func BenchmarkOPADirect(b *testing.B) { opaDirect(b, typicalInput()) }

// opaDirect evaluates every library module on in with OPA's prepared
// queries, the input converted once, against a store of the reference data
// configured as the engine's is (newStore).
func opaDirect(b *testing.B, in Input) {
	data, err := DefaultData()
	if err != nil {
		b.Fatal(err)
	}
	modules, err := DefaultModules()
	if err != nil {
		b.Fatal(err)
	}
	value, err := (&converter{}).inputValue(&in, in.Findings, in.Exceptions)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	portcullis, err := normalise(data)
	if err != nil {
		b.Fatal(err)
	}
	store := newStore(portcullis)
	queries := make([]rego.PreparedEvalQuery, 0, len(modules))
	for _, m := range modules {
		q, err := rego.New(
			rego.Query(fmt.Sprintf("revoke := data.portcullis.policies.%[1]s.revoke; quarantine := data.portcullis.policies.%[1]s.quarantine", m.Name)),
			rego.Module(m.Name, m.Source), rego.Store(store), rego.SetRegoVersion(ast.RegoV1),
		).PrepareForEval(ctx)
		if err != nil {
			b.Fatal(err)
		}
		queries = append(queries, q)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, q := range queries {
			if _, err := q.Eval(ctx, rego.EvalParsedInput(value)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// inputWithFindings is typicalInput with n findings, cycling through its
// five kinds, each with an address of its own.
func inputWithFindings(n int) Input {
	in := typicalInput()
	kinds := in.Findings
	in.Findings = nil
	for i := range n {
		f := *kinds[i%len(kinds)].DeepCopy()
		f.Name = fmt.Sprintf("%s-%d", f.Name, i)
		f.Spec.Evidence.IP = fmt.Sprintf("203.0.%d.%d", i/250, i%250+1)
		in.Findings = append(in.Findings, f)
	}
	return in
}

// BenchmarkDecideFindings shows how a decision's cost grows with the
// contractor's findings: the engine (Decide) against OPA's prepared
// evaluation of the same modules (OPA) at 0, 5 and 50 findings.
func BenchmarkDecideFindings(b *testing.B) {
	for _, n := range []int{0, 5, 50} {
		in := inputWithFindings(n)
		b.Run(fmt.Sprintf("findings=%d/Decide", n), func(b *testing.B) {
			e := libraryEngine(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("findings=%d/OPA", n), func(b *testing.B) { opaDirect(b, in) })
	}
}

// BenchmarkCheck compiles the largest library module as the admission
// webhook does on every apply of a changed policy: parse, sandbox, the
// METADATA schema annotation, type-checking against the input schema and
// query preparation.
func BenchmarkCheck(b *testing.B) {
	e := libraryEngine(b)
	modules, err := DefaultModules()
	if err != nil {
		b.Fatal(err)
	}
	var risk Module
	for _, m := range modules {
		if m.Name == "risk" {
			risk = m
		}
	}
	p := Policy{Name: risk.Name, Source: risk.Source}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Check(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
