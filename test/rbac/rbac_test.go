package rbac

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/test/freeport"
)

// namespace and serviceAccount are the manager's.
const namespace = Namespace

var serviceAccount = ServiceAccount

func TestManagerWithShippedRBAC(t *testing.T) {
	g := NewWithT(t)
	_, cfg, admin := StartAPIServer(t, g)

	ctx, cancel := context.WithCancel(context.Background())
	for _, ns := range []string{namespace, "payments", "elsewhere"} {
		g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	InstallRBAC(ctx, g, admin)

	asManager := rest.CopyConfig(cfg)
	asManager.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount,
		Groups: ServiceAccountGroups()}
	webhookAddr := prepareWebhook(ctx, g, admin)
	startManager(ctx, cancel, t, asManager, webhookAddr)
	managerClient, err := client.New(asManager, client.Options{Scheme: admin.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())

	t.Run("reads Secrets in its own namespace only", func(t *testing.T) {
		g := NewWithT(t)
		for _, ns := range []string{namespace, "elsewhere"} {
			g.Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
				Data: map[string][]byte{"hmacKey": []byte("k")}})).To(Succeed())
		}
		g.Expect(managerClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "creds"}, &corev1.Secret{})).To(Succeed())
		err := managerClient.Get(ctx, client.ObjectKey{Namespace: "elsewhere", Name: "creds"}, &corev1.Secret{})
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		err = managerClient.List(ctx, &corev1.SecretList{}, client.InNamespace(namespace))
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may list Secrets: %v", err)

		receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(receiver.Close)
		for _, ns := range []string{namespace, "elsewhere"} {
			g.Expect(admin.Create(ctx, webhookSystem("hook-"+ns, receiver.URL, ns))).To(Succeed())
		}
		expectReady(ctx, g, admin, "hook-"+namespace, accessv1alpha1.ReasonConnected)
		expectReady(ctx, g, admin, "hook-elsewhere", accessv1alpha1.ReasonSecretNamespaceNotAllowed)
	})

	t.Run("keeps its webhook certificate with get and update on two objects", func(t *testing.T) {
		g := NewWithT(t)
		broken := &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "broken"},
			Spec: accessv1alpha1.AccessPolicySpec{Rego: "package broken\n\nrevoke contains r if {\n"}}
		g.Eventually(func() string {
			err := admin.Create(ctx, broken)
			if err == nil {
				return "admitted"
			}
			return err.Error()
		}).WithTimeout(60*time.Second).WithPolling(200*time.Millisecond).Should(ContainSubstring("spec.rego: Invalid value: broken:"),
			"the manager could not make its certificate or inject its CA with the shipped RBAC")
	})

	t.Run("keeps each policy's last good source in its own namespace", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "kept"},
			Spec: accessv1alpha1.AccessPolicySpec{Rego: "package kept\n\nquarantine contains {\"msg\": \"never\"} if false\n"}})).To(Succeed())
		g.Eventually(func() error {
			return admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "portcullis-policy-kept"}, &corev1.ConfigMap{})
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	t.Run("binds what it may bind, and cannot bind more even when a system allows it", func(t *testing.T) {
		g := NewWithT(t)
		system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes,
				Kubernetes: &accessv1alpha1.KubernetesSettings{AllowedClusterRoles: []string{"edit", "cluster-admin"},
					AllowedNamespaces: []string{"payments"}}}}
		g.Expect(admin.Create(ctx, system)).To(Succeed())
		cond := expectReady(ctx, g, admin, "cluster", accessv1alpha1.ReasonUnreachable)
		g.Expect(cond.Message).To(ContainSubstring("may not bind clusterroles cluster-admin"))

		g.Expect(admin.Create(ctx, &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "sam"},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: "Sam", Email: "sam@contractors.example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: "cluster", ID: "sam@contractors.example.com"}}}})).To(Succeed())
		for _, role := range []string{"edit", "cluster-admin"} {
			g.Expect(admin.Create(ctx, &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: role},
				Spec: accessv1alpha1.AccessGrantSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: "sam"},
					SystemRef:     accessv1alpha1.SystemReference{Name: "cluster"},
					Entitlement:   accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: role, Namespace: "payments"},
					Justification: "test", Approver: "test"}})).To(Succeed())
		}
		g.Eventually(func(g Gomega) {
			bindings := &rbacv1.RoleBindingList{}
			g.Expect(admin.List(ctx, bindings, client.InNamespace("payments"))).To(Succeed())
			var roles []string
			for _, b := range bindings.Items {
				roles = append(roles, b.RoleRef.Name)
			}
			g.Expect(roles).To(ConsistOf("edit"))
			grant := &accessv1alpha1.AccessGrant{}
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "cluster-admin"}, grant)).To(Succeed())
			g.Expect(grant.Status.Enforcement).NotTo(BeNil())
			g.Expect(grant.Status.Enforcement.LastError).To(ContainSubstring("forbidden"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})
}

// startManager runs the manager until the test ends.
func startManager(ctx context.Context, cancel context.CancelFunc, t *testing.T, cfg *rest.Config, webhookAddr string) {
	opts := manager.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.Webhook.Addr, opts.Webhook.DNSNames = webhookAddr, []string{"localhost"}
	opts.CredentialsNamespace = namespace
	mgr, err := manager.New(ctx, cfg, opts)
	if err != nil {
		t.Fatalf("creating the manager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager failed: %v", err)
		}
	})
}

// prepareWebhook creates the webhook's empty Secret and registers the
// webhook by URL, as config/webhook does by Service, and returns the
// address the manager is to serve it on.
func prepareWebhook(ctx context.Context, g Gomega, admin client.Client) string {
	opts := manager.DefaultWebhookOptions()
	g.Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: opts.Secret}})).To(Succeed())
	port, err := freeport.Port()
	g.Expect(err).NotTo(HaveOccurred())
	hook, err := admission.LocalConfiguration(opts.Configuration, fmt.Sprintf("https://localhost:%d", port))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(admin.Create(ctx, hook)).To(Succeed())
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func webhookSystem(name, url, secretNS string) *accessv1alpha1.ConnectedSystem {
	return &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeWebhook, Insecure: true,
			CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: secretNS, Name: "creds"},
			Webhook:              &accessv1alpha1.WebhookSettings{URL: url, TimeoutSeconds: 5}}}
}

func expectReady(ctx context.Context, g Gomega, c client.Client, system, reason string) *metav1.Condition {
	var cond *metav1.Condition
	g.Eventually(func(g Gomega) {
		s := &accessv1alpha1.ConnectedSystem{}
		g.Expect(c.Get(ctx, client.ObjectKey{Name: system}, s)).To(Succeed())
		for i := range s.Status.Conditions {
			if s.Status.Conditions[i].Type == accessv1alpha1.ConditionReady {
				cond = &s.Status.Conditions[i]
			}
		}
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(reason), cond.Message)
	}).WithTimeout(30 * time.Second).Should(Succeed())
	return cond
}
