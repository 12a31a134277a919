package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/pgserver"
)

// The names the suite uses.
const (
	// CredentialsNamespace is the manager's namespace.
	CredentialsNamespace = "portcullis-system"
	// AppsNamespace is where the kubernetes system makes its RoleBindings.
	AppsNamespace = "chaos-apps"
	// The connected systems, one of each kind.
	ClusterSystem = "chaos-cluster"
	DBSystem      = "chaos-db"
	HookSystem    = "chaos-hook"
	// The entitlements granted on each.
	EditRole        = "edit"
	QuarantineRole  = "view"
	DBEntitlement   = "chaos_rw"
	HookEntitlement = "hr-admin"
	// LabelScenario marks a scenario's contractors, for policies that
	// apply to one scenario only.
	LabelScenario = "chaos.portcullis.dev/scenario"
	// BasePolicy is the policy every scenario relies on.
	BasePolicy = "chaos-base"
)

// basePolicyRego revokes on sanctioned-country findings and quarantines
// on geolocation findings.
const basePolicyRego = `package chaos.base

revoke contains {"msg": "a sign-in from a sanctioned country", "code": "ChaosRevoke", "severity": "Critical"} if {
	some f in input.findings
	f.spec.type == "sanctioned-country"
}

quarantine contains {"msg": "a sign-in from abroad", "code": "ChaosQuarantine", "severity": "High"} if {
	some f in input.findings
	f.spec.type == "geolocation"
}
`

// Kind is the type of system a grant is on.
type Kind = accessv1alpha1.SystemType

// The kinds the suite uses.
const (
	Kubernetes = accessv1alpha1.SystemTypeKubernetes
	Postgres   = accessv1alpha1.SystemTypePostgres
	Webhook    = accessv1alpha1.SystemTypeWebhook
)

// World is the cluster's fixtures and the systems behind them.
type World struct {
	C        client.Client
	PG       *PG
	Receiver *Receiver
	// HookKey signs the webhook deliveries.
	HookKey []byte
	// HookTimeout is the webhook system's delivery timeout, in seconds.
	HookTimeout int32
}

// Setup creates the namespaces, the three connected systems with their
// credentials, and the base policy.
func (w *World) Setup(ctx context.Context) error {
	port := int32(w.PG.Server.Port)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CredentialsNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: AppsNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: CredentialsNamespace, Name: DBSystem},
			Data: map[string][]byte{"username": []byte(pgserver.Superuser), "password": []byte(pgserver.Password)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: CredentialsNamespace, Name: HookSystem},
			Data: map[string][]byte{"hmacKey": w.HookKey}},
		system(ClusterSystem, func(s *accessv1alpha1.ConnectedSystemSpec) {
			s.Type = Kubernetes
			s.Kubernetes = &accessv1alpha1.KubernetesSettings{QuarantineClusterRole: QuarantineRole,
				AllowedClusterRoles: []string{EditRole, QuarantineRole}, AllowedNamespaces: []string{AppsNamespace}}
		}),
		system(DBSystem, func(s *accessv1alpha1.ConnectedSystemSpec) {
			s.Type, s.Insecure, s.AllowedEntitlements = Postgres, true, []string{DBEntitlement}
			s.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: CredentialsNamespace, Name: DBSystem}
			s.Postgres = &accessv1alpha1.PostgresSettings{Host: w.PG.Server.Host, Port: port, Database: "postgres", SSLMode: "disable"}
		}),
		system(HookSystem, func(s *accessv1alpha1.ConnectedSystemSpec) {
			s.Type, s.Insecure, s.AllowedEntitlements = Webhook, true, []string{HookEntitlement}
			s.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: CredentialsNamespace, Name: HookSystem}
			s.Webhook = &accessv1alpha1.WebhookSettings{URL: w.Receiver.URL + "/events", TimeoutSeconds: w.HookTimeout}
		}),
		&accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: BasePolicy},
			Spec: accessv1alpha1.AccessPolicySpec{Rego: basePolicyRego}},
	}
	for _, o := range objs {
		if err := w.Create(ctx, o); err != nil {
			return err
		}
	}
	return w.PG.CreateRoles(ctx, []string{DBEntitlement}, nil)
}

func system(name string, fn func(*accessv1alpha1.ConnectedSystemSpec)) *accessv1alpha1.ConnectedSystem {
	s := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: name}}
	fn(&s.Spec)
	return s
}

// Create creates obj, retrying while the API server is away or an
// admission policy is not ready yet. An object that already exists counts
// as created: an earlier attempt may have succeeded without an answer.
func (w *World) Create(ctx context.Context, obj client.Object) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		attempt := obj.DeepCopyObject().(client.Object)
		err := w.C.Create(ctx, attempt)
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if time.Now().After(deadline) || apierrors.IsInvalid(err) && !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Contractor is one contractor of a scenario with one grant per kind.
type Contractor struct {
	Namespace, Name string
	Kinds           []Kind
}

// Grant names the contractor's grant on a kind of system.
func (c Contractor) Grant(k Kind) types.NamespacedName {
	suffix := map[Kind]string{Kubernetes: "k8s", Postgres: "db", Webhook: "hook"}[k]
	return types.NamespacedName{Namespace: c.Namespace, Name: c.Name + "-" + suffix}
}

// Account is the contractor's account on a kind of system.
func (c Contractor) Account(k Kind) string {
	switch k {
	case Postgres:
		return strings.ReplaceAll(c.Namespace+"_"+c.Name, "-", "_")
	case Webhook:
		return c.Namespace + "/" + c.Name
	}
	return c.Name + "@contractors.example.com"
}

// NewContractors creates n contractors named prefix-NN in namespace ns,
// each with an account and one grant on every kind of system.
func (w *World) NewContractors(ctx context.Context, ns, prefix string, n int, kinds ...Kind) ([]Contractor, error) {
	if err := w.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, err
	}
	cs := make([]Contractor, n)
	var logins []string
	for i := range cs {
		cs[i] = Contractor{Namespace: ns, Name: fmt.Sprintf("%s-%02d", prefix, i), Kinds: kinds}
		if hasKind(kinds, Postgres) {
			logins = append(logins, cs[i].Account(Postgres))
		}
	}
	if err := w.PG.CreateRoles(ctx, nil, logins); err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := w.Create(ctx, newContractor(c)); err != nil {
			return nil, err
		}
		for _, k := range kinds {
			if err := w.Create(ctx, NewGrant(c, k)); err != nil {
				return nil, err
			}
		}
	}
	return cs, nil
}

func hasKind(kinds []Kind, k Kind) bool {
	for _, have := range kinds {
		if have == k {
			return true
		}
	}
	return false
}

func newContractor(c Contractor) *accessv1alpha1.Contractor {
	systems := map[Kind]string{Kubernetes: ClusterSystem, Postgres: DBSystem, Webhook: HookSystem}
	obj := &accessv1alpha1.Contractor{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name, Labels: map[string]string{LabelScenario: c.Namespace}},
		Spec: accessv1alpha1.ContractorSpec{DisplayName: c.Name, Email: c.Name + "@contractors.example.com",
			ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"}},
	}
	for _, k := range c.Kinds {
		obj.Spec.Accounts = append(obj.Spec.Accounts, accessv1alpha1.Account{System: systems[k], ID: c.Account(k)})
	}
	return obj
}

// NewGrant is the contractor's grant on a kind of system.
func NewGrant(c Contractor, k Kind) *accessv1alpha1.AccessGrant {
	key := c.Grant(k)
	g := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec: accessv1alpha1.AccessGrantSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: c.Name},
			Justification: "chaos suite", Approver: "chaos@example.com"}}
	switch k {
	case Kubernetes:
		g.Spec.SystemRef.Name = ClusterSystem
		g.Spec.Entitlement = accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: EditRole, Namespace: AppsNamespace}
	case Postgres:
		g.Spec.SystemRef.Name = DBSystem
		g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: DBEntitlement}
	case Webhook:
		g.Spec.SystemRef.Name = HookSystem
		g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: HookEntitlement}
	}
	return g
}

// Finding types the base policy acts on.
const (
	Revoking    = accessv1alpha1.FindingSanctionedCountry
	Quarantines = accessv1alpha1.FindingGeolocation
)

// AddFinding creates a finding of type t about the contractor, named
// after it and tag.
func (w *World) AddFinding(ctx context.Context, c Contractor, t accessv1alpha1.FindingType, tag string) error {
	f := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name + "-" + tag},
		Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: c.Name},
			Type: t, Severity: accessv1alpha1.SeverityHigh, Source: "chaos", Key: tag,
			Evidence: accessv1alpha1.Evidence{IP: "203.0.113.7", Country: "KP"}}}
	if t == Quarantines {
		f.Spec.Evidence.Country = "BR"
	}
	return w.Create(ctx, f)
}

// Expect lists, for every contractor and each of its kinds, that its
// grant must end in state.
func Expect(cs []Contractor, state accessv1alpha1.GrantState) []Expectation {
	var out []Expectation
	for _, c := range cs {
		for _, k := range c.Kinds {
			out = append(out, Expectation{Contractor: c, Kind: k, State: state})
		}
	}
	return out
}
