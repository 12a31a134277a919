package controllers_test

import (
	"net"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
)

// impersonate returns a client that acts as an unprivileged user.
func impersonate(user string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// allowGrantWriting lets user create grants in ns and bind the ClusterRole
// role there, and nothing else.
func allowGrantWriting(ctx SpecContext, ns, user, role string) {
	rules := []rbacv1.PolicyRule{{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"accessgrants"},
		Verbs: []string{"create", "get", "list"}}}
	if role != "" {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"},
			Verbs: []string{"bind"}, ResourceNames: []string{role}})
	}
	create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user}, Rules: rules})
	create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
}

func roleGrant(kind accessv1alpha1.EntitlementKind, name, namespace string) func(*accessv1alpha1.AccessGrant) {
	return func(g *accessv1alpha1.AccessGrant) {
		g.Spec.Entitlement = accessv1alpha1.Entitlement{Kind: kind, Name: name, Namespace: namespace}
	}
}

// expectRefused expects an admission refusal whose message says why.
func expectRefused(err error, why string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	Expect(err.Error()).To(ContainSubstring(why))
}

// narrowSystem allows the ClusterRoles view and edit in namespace ns only.
func narrowSystem(ns string) func(*accessv1alpha1.ConnectedSystem) {
	return func(s *accessv1alpha1.ConnectedSystem) {
		s.Spec.Kubernetes = &accessv1alpha1.KubernetesSettings{
			AllowedClusterRoles: []string{"view", "edit"}, AllowedNamespaces: []string{ns}}
	}
}

// noBinding expects the grant to have no binding, now and for a while.
func noBinding(ctx SpecContext, grant *accessv1alpha1.AccessGrant) {
	GinkgoHelper()
	name := k8sconnector.BindingName(grant)
	Consistently(func(g Gomega) {
		rb := &rbacv1.RoleBinding{}
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: grant.Spec.Entitlement.Namespace, Name: name}, rb)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "RoleBinding %s exists", name)
		crb := &rbacv1.ClusterRoleBinding{}
		err = k8sClient.Get(ctx, client.ObjectKey{Name: name}, crb)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "ClusterRoleBinding %s exists", name)
	}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())
}

var _ = Describe("Least privilege", func() {
	It("refuses a grant whose requester may not bind its role, as Kubernetes refuses such a RoleBinding", func(ctx SpecContext) {
		w := newWorld(ctx)
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Kubernetes.AllowClusterWide = true
		})
		allowGrantWriting(ctx, w.ns, "lead", "view")
		lead := impersonate("lead")

		By("admitting the role the requester may bind")
		Eventually(func() error {
			return lead.Create(ctx, newGrant(w.ns, "view", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementClusterRole, "view", w.ns)))
		}).WithContext(ctx).Should(Succeed())
		viewer := &accessv1alpha1.AccessGrant{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "view"}, viewer)).To(Succeed())
		expectBinding(ctx, viewer, "view")

		By("refusing a role the requester may not bind, in the namespace and cluster-wide")
		expectRefused(lead.Create(ctx, newGrant(w.ns, "edit", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementClusterRole, "edit", w.ns))), "you may not bind the ClusterRole edit in namespace "+w.ns)
		expectRefused(lead.Create(ctx, newGrant(w.ns, "admin", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementClusterRole, "cluster-admin", ""))), "you may not bind the ClusterRole cluster-admin cluster-wide")
		expectRefused(lead.Create(ctx, newGrant(w.ns, "role", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementRole, "deployer", w.ns))), "you may not bind the Role deployer")

		By("refusing a requester without bind at all")
		allowGrantWriting(ctx, w.ns, "intern", "")
		expectRefused(impersonate("intern").Create(ctx, newGrant(w.ns, "intern-view", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementClusterRole, "view", w.ns))), "you may not bind")
	})

	It("grants only what the ConnectedSystem allows, on apply and in enforcement", func(ctx SpecContext) {
		w := newWorld(ctx)
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, narrowSystem(w.ns))
		Eventually(func() error {
			return k8sClient.Create(ctx, newGrant(w.ns, "probe", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementClusterRole, "admin", w.ns)))
		}).WithContext(ctx).Should(HaveOccurred(), "the admission policy has not seen the narrowed system yet")

		By("refusing on apply a role, a namespace, a cluster-wide binding and a kind the system does not allow")
		other := newNamespace(ctx)
		for _, c := range []struct {
			grant *accessv1alpha1.AccessGrant
			why   string
		}{
			{newGrant(w.ns, "a", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementClusterRole, "cluster-admin", w.ns)),
				"does not allow the ClusterRole cluster-admin: it is not in spec.kubernetes.allowedClusterRoles"},
			{newGrant(w.ns, "b", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementClusterRole, "edit", other)),
				"does not allow bindings in namespace " + other},
			{newGrant(w.ns, "c", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementClusterRole, "view", "")),
				"does not allow cluster-wide bindings"},
			{newGrant(w.ns, "d", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementRole, "edit", w.ns)),
				"not in spec.kubernetes.allowedRoles"},
			{newGrant(w.ns, "e", w.contractor, w.system, roleGrant("", "edit", w.ns)),
				"set spec.entitlement.kind to Role or ClusterRole"},
		} {
			expectRefused(k8sClient.Create(ctx, c.grant), c.why)
		}

		By("never enforcing a grant admitted before its system existed, when the system does not allow it")
		later := uniqueName("later")
		early := newGrant(w.ns, "early", w.contractor, later, roleGrant(accessv1alpha1.EntitlementClusterRole, "cluster-admin", w.ns))
		create(ctx, early)
		w.addAccount(ctx, later, "sam@contractors.example.com")
		create(ctx, newSystem(later, narrowSystem(w.ns)))
		cond := expectReady(ctx, early, metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementNotAllowed)
		Expect(cond.Message).To(ContainSubstring("does not allow the ClusterRole \"cluster-admin\""))
		noBinding(ctx, early)

		By("taking access away when the system stops allowing a granted role, and giving it back when it allows it again")
		grant := w.grant(ctx, "edit")
		expectBinding(ctx, grant, "edit")
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Kubernetes.AllowedClusterRoles = []string{"view"}
		})
		expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementNotAllowed)
		expectState(ctx, grant, accessv1alpha1.GrantPending)
		noBinding(ctx, grant)
		Expect(eventReasons(ctx, grant)).To(ContainElement(accessv1alpha1.ReasonEntitlementNotAllowed))
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, narrowSystem(w.ns))
		expectBinding(ctx, grant, "edit")
	})

	It("refuses entitlements that other system types do not list, and role fields on them", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		system := newSystem(uniqueName("hook"), withWebhook("http://127.0.0.1:9/hook", accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: "absent"}),
			func(s *accessv1alpha1.ConnectedSystem) { s.Spec.AllowedEntitlements = []string{"payments-*", "wiki"} })
		create(ctx, system)
		create(ctx, newContractor(ns, "sam", withAccount(system.Name, "sam")))
		entitlement := func(name string) func(*accessv1alpha1.AccessGrant) {
			return func(g *accessv1alpha1.AccessGrant) { g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: name} }
		}
		Eventually(func() error {
			return k8sClient.Create(ctx, newGrant(ns, "probe", "sam", system.Name, entitlement("admins")))
		}).WithContext(ctx).Should(HaveOccurred(), "the admission policy has not seen the system yet")

		expectRefused(k8sClient.Create(ctx, newGrant(ns, "x", "sam", system.Name, entitlement("payments-admins,ou=x"))),
			"does not allow the entitlement payments-admins,ou=x")
		expectRefused(k8sClient.Create(ctx, newGrant(ns, "y", "sam", system.Name, roleGrant(accessv1alpha1.EntitlementClusterRole, "wiki", ns))),
			"spec.entitlement.kind and namespace are for kubernetes systems only")
		Expect(k8sClient.Create(ctx, newGrant(ns, "z", "sam", system.Name, entitlement("payments-engineers")))).To(Succeed())
		Expect(k8sClient.Create(ctx, newGrant(ns, "w", "sam", system.Name, entitlement("wiki")))).To(Succeed())
	})

	It("reads credentials only from its own namespace, and sends nothing to a system that names another", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(listener.Close)
		var connections atomic.Int32
		go func() {
			for {
				conn, err := listener.Accept()
				if err != nil {
					return
				}
				connections.Add(1)
				_ = conn.Close()
			}
		}()
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "admin"},
			Data: map[string][]byte{"username": []byte("postgres"), "password": secretUsed("elsewhere-admin-password")}})
		addr := listener.Addr().(*net.TCPAddr)
		system := newSystem(uniqueName("db"), func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Type, s.Spec.Kubernetes, s.Spec.Insecure = accessv1alpha1.SystemTypePostgres, nil, true
			s.Spec.Postgres = &accessv1alpha1.PostgresSettings{Host: "127.0.0.1", Port: int32(addr.Port), SSLMode: "disable"}
			s.Spec.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: ns, Name: "admin"}
		})
		create(ctx, system)
		cond := expectReady(ctx, system, metav1.ConditionFalse, accessv1alpha1.ReasonSecretNamespaceNotAllowed)
		Expect(cond.Message).To(ContainSubstring("the only namespace the controller reads credentials from"))

		By("refusing a connection string in the Secret that turns TLS off")
		dsn := uniqueName("dsn")
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: dsn},
			Data: map[string][]byte{"dsn": []byte("postgres://postgres:" + string(secretUsed("dsn-admin-password")) + "@" +
				addr.String() + "/postgres?sslmode=disable")}})
		cleartext := newSystem(uniqueName("db"), func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Type, s.Spec.Kubernetes = accessv1alpha1.SystemTypePostgres, nil
			s.Spec.Postgres = &accessv1alpha1.PostgresSettings{Host: "127.0.0.1", Port: int32(addr.Port), SSLMode: "verify-full"}
			s.Spec.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: dsn}
		})
		create(ctx, cleartext)
		expectReady(ctx, cleartext, metav1.ConditionFalse, accessv1alpha1.ReasonInsecure)
		Consistently(connections.Load).WithContext(ctx).WithTimeout(time.Second).Should(BeZero())
	})

	It("refuses credentials in clear text and in URLs on apply", func(ctx SpecContext) {
		ref := &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: "x"}
		for _, c := range []struct {
			set func(*accessv1alpha1.ConnectedSystem)
			why string
		}{
			{func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.Type, s.Spec.Postgres = accessv1alpha1.SystemTypePostgres, &accessv1alpha1.PostgresSettings{Host: "db", SSLMode: "disable"}
			}, "spec.postgres.sslMode is disable"},
			{func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.Type, s.Spec.SCIM = accessv1alpha1.SystemTypeSCIM, &accessv1alpha1.SCIMSettings{URL: "http://idp.example.com/scim/v2"}
			}, "spec.scim.url is http://"},
			{func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.Type, s.Spec.LDAP = accessv1alpha1.SystemTypeLDAP, &accessv1alpha1.LDAPSettings{URL: "ldap://ldap.example.com"}
			}, "spec.ldap.url is ldap:// without startTLS"},
			{func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.Type, s.Spec.Webhook = accessv1alpha1.SystemTypeWebhook, &accessv1alpha1.WebhookSettings{URL: "https://user:" + string(secretUsed("hook-url-password")) + "@hooks.example.com/"}
			}, "spec.webhook.url"},
		} {
			system := newSystem(uniqueName("insecure"), func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.Kubernetes, s.Spec.CredentialsSecretRef = nil, ref
				c.set(s)
			})
			err := k8sClient.Create(ctx, system)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(c.why))
		}
	})

	It("refuses an exception that would last longer than the policy data allows", func(ctx SpecContext) {
		w := newWorld(ctx)
		far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		Eventually(func() error {
			return k8sClient.Create(ctx, newException(w.ns, "forever", w.contractor, w.policy, far))
		}).WithContext(ctx).Should(MatchError(ContainSubstring("spec.expiresAt may be at most 90 days after the exception was created")))
		ok := newException(w.ns, "quarter", w.contractor, w.policy, time.Now().Add(80*24*time.Hour))
		create(ctx, ok)
		expectReady(ctx, ok, metav1.ConditionTrue, accessv1alpha1.ReasonActive)
		err := k8sClient.Patch(ctx, &accessv1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "quarter"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"expiresAt":"9999-01-01T00:00:00Z"}}`)))
		Expect(err).To(MatchError(ContainSubstring("at most 90 days")))
	})
})
