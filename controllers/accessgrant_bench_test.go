package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/guard"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// nopConnector applies nothing anywhere: the benchmark measures the
// reconcile path, not a connected system.
type nopConnector struct{}

func (nopConnector) Ensure(context.Context, connectors.Target, accessv1alpha1.GrantState) (connectors.Change, error) {
	return connectors.Change{}, nil
}
func (nopConnector) ObservesState() bool { return true }
func (nopConnector) Check(context.Context, *accessv1alpha1.ConnectedSystem, map[string][]byte) error {
	return nil
}

// BenchmarkGrantReconcile reconciles one settled grant of a contractor
// with five findings against the default library, on an in-memory client:
// gathering, deciding, planning and computing status without I/O. It is
// what a policy sweep costs per grant.
func BenchmarkGrantReconcile(b *testing.B) {
	r, req := benchReconciler(b)
	ctx := context.Background()
	if _, err := r.Reconcile(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Reconcile(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchReconciler(b *testing.B) (*AccessGrantReconciler, ctrl.Request) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	ns, now := "bench", time.Now()
	objs := []client.Object{
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "k8s"},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes, Kubernetes: &accessv1alpha1.KubernetesSettings{
				AllowedClusterRoles: []string{"edit"}, AllowedNamespaces: []string{ns}}}},
		&accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sam"},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: "Sam", Email: "sam@example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: "k8s", ID: "sam"}},
				VerificationChecks: []accessv1alpha1.VerificationCheck{{Type: "Document", Result: "Passed",
					DocumentCountry: "US", CompletedAt: &metav1.Time{Time: now.AddDate(0, -1, 0)}}}}},
		&accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g", Finalizers: []string{FinalizerEntitlement}},
			Spec: accessv1alpha1.AccessGrantSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: "sam"},
				SystemRef: accessv1alpha1.SystemReference{Name: "k8s"}, Entitlement: accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: "edit", Namespace: ns},
				Justification: "j", Approver: "a"}},
	}
	for i, country := range []accessv1alpha1.CountryCode{"US", "US", "CA", "US", "US"} {
		objs = append(objs, &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "f" + string(rune('a'+i))},
			Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: "sam"},
				Type: accessv1alpha1.FindingGeolocation, Severity: "Low", Source: "bench",
				Evidence: accessv1alpha1.Evidence{Country: country, ASN: 64512}}})
	}
	builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&accessv1alpha1.AccessGrant{})
	for _, ix := range kube.Indexes() {
		builder = builder.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := builder.Build()

	data, err := policy.DefaultData()
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policy.NewEngine(policy.Options{Data: data, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	modules, err := policy.DefaultModules()
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range modules {
		if _, err := engine.Upsert(context.Background(), policy.Policy{Name: m.Name, Source: m.Source}); err != nil {
			b.Fatal(err)
		}
	}
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	r := &AccessGrantReconciler{
		Client: c, APIReader: c, Clock: clock.RealClock{}, Engine: engine, Sync: NewPolicySync(),
		Connectors: connectors.Registry{accessv1alpha1.SystemTypeKubernetes: nopConnector{}},
		Guard:      guard.New(clock.RealClock{}, guard.DefaultOptions()), Metrics: m,
		Recorder: events.NewFakeRecorder(100), Findings: NewFindingClock(clock.RealClock{}),
	}
	r.fresh = kube.NewFreshReader(c, c)
	return r, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "g"}}
}
