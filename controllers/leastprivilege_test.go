package controllers_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
	"github.com/portcullis-dev/portcullis/internal/guard"
)

// impersonate returns a client that acts as an unprivileged user.
func impersonate(user string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// allowGrantWriting lets user create grants, edit contractors and create
// RoleBindings in ns, and bind the ClusterRole role there; nothing else.
func allowGrantWriting(ctx SpecContext, ns, user, role string) {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"accessgrants"}, Verbs: []string{"create", "get", "list", "patch"}},
		{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"contractors"}, Verbs: []string{"get", "patch", "update"}},
		{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: []string{"create"}},
	}
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

// awaitRefusal waits until the admission policy, which reads
// ConnectedSystems from an informer, refuses grant for what its system
// does not allow; the dry run writes nothing.
func awaitRefusal(ctx SpecContext, grant *accessv1alpha1.AccessGrant) {
	GinkgoHelper()
	Eventually(func() error {
		return k8sClient.Create(ctx, grant.DeepCopy(), client.DryRunAll)
	}).WithContext(ctx).Should(MatchError(ContainSubstring("does not allow")), "the admission policy has not seen the system yet")
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
			roleGrant(accessv1alpha1.EntitlementClusterRole, "cluster-admin", ""))), "you may not create ClusterRoleBindings cluster-wide")
		expectRefused(lead.Create(ctx, newGrant(w.ns, "role", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementRole, "deployer", w.ns))), "you may not bind the Role deployer")

		By("refusing a requester who may bind the role but not create bindings where the grant puts one")
		other := newNamespace(ctx)
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Kubernetes.AllowedNamespaces = []string{w.ns, other}
		})
		expectRefused(lead.Create(ctx, newGrant(w.ns, "view-elsewhere", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementClusterRole, "view", other))), "you may not create RoleBindings in namespace "+other)
		expectRefused(lead.Create(ctx, newGrant(w.ns, "view-everywhere", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementClusterRole, "view", ""))), "you may not create ClusterRoleBindings cluster-wide")

		By("refusing a requester without bind at all")
		allowGrantWriting(ctx, w.ns, "intern", "")
		expectRefused(impersonate("intern").Create(ctx, newGrant(w.ns, "intern-view", w.contractor, w.system,
			roleGrant(accessv1alpha1.EntitlementClusterRole, "view", w.ns))), "you may not bind")
	})

	It("grants only what the ConnectedSystem allows, on apply and in enforcement", func(ctx SpecContext) {
		w := newWorld(ctx)
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, narrowSystem(w.ns))
		awaitRefusal(ctx, newGrant(w.ns, "probe", w.contractor, w.system, roleGrant(accessv1alpha1.EntitlementClusterRole, "admin", w.ns)))

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
		awaitRefusal(ctx, newGrant(ns, "probe", "sam", system.Name, entitlement("admins")))

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

		By("applying a longer exception nowhere when the admission policy is missing")
		vapb := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "policyexception-lifetime"}, vapb)).To(Succeed())
		Expect(k8sClient.Delete(ctx, vapb)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			restored := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: vapb.Name}, Spec: vapb.Spec}
			Expect(k8sClient.Create(ctx, restored)).To(Succeed())
		})
		Expect(k8sClient.Delete(ctx, ok)).To(Succeed()) // it exempts the whole policy
		grant := w.grant(ctx, "edit")
		expectBinding(ctx, grant, "edit")
		w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "NL")
		expectBinding(ctx, grant, "view")
		forever := newException(w.ns, "forever", w.contractor, w.policy, far)
		Eventually(func() error { return k8sClient.Create(ctx, forever.DeepCopy()) }).WithContext(ctx).Should(Succeed())
		expectReady(ctx, forever, metav1.ConditionFalse, accessv1alpha1.ReasonTooLong)
		Consistently(func(g Gomega) { g.Expect(binding(ctx, g, grant).RoleRef.Name).To(Equal("view")) }).
			WithContext(ctx).WithTimeout(time.Second).Should(Succeed(), "the exception lifted the quarantine")
	})

	It("lets only the platform team point a contractor's grants at another account", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "edit")
		expectBinding(ctx, grant, "edit")
		allowGrantWriting(ctx, w.ns, "lead", "edit")
		lead := impersonate("lead")
		contractor := &accessv1alpha1.Contractor{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.contractor}, contractor)).To(Succeed())

		By("refusing a lead who changes or removes the account the grants are enforced on")
		for _, accounts := range [][]accessv1alpha1.Account{
			{{System: w.system, ID: "lead@example.com"}},
			nil,
		} {
			changed := contractor.DeepCopy()
			changed.Spec.Accounts = accounts
			expectRefused(lead.Patch(ctx, changed, client.MergeFrom(contractor)),
				"may be changed or removed only by someone who may update ConnectedSystem "+w.system)
		}
		By("letting a lead add an account, and the platform team change one")
		added := contractor.DeepCopy()
		added.Spec.Accounts = append(added.Spec.Accounts, accessv1alpha1.Account{System: "another-system", ID: "sam"})
		Expect(lead.Patch(ctx, added, client.MergeFrom(contractor))).To(Succeed())
		w.addAccount(ctx, "yet-another", "sam")

		By("never binding a Kubernetes system identity")
		mutate(ctx, contractor, func(c *accessv1alpha1.Contractor) {
			c.Spec.Accounts[0].ID = "system:serviceaccount:kube-system:default"
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
			g.Expect(grant.Status.Enforcement).NotTo(BeNil())
			g.Expect(grant.Status.Enforcement.LastError).To(ContainSubstring("is a Kubernetes system identity"))
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			if rb := binding(ctx, g, grant); rb != nil {
				g.Expect(rb.Subjects).NotTo(ContainElement(HaveField("Name", HavePrefix("system:"))))
			}
		}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())
	})

	It("lets a grant written without a kind get one, from someone who may bind it", func(ctx SpecContext) {
		w := newWorld(ctx)
		later := uniqueName("later")
		grant := newGrant(w.ns, "kindless", w.contractor, later, roleGrant("", "view", w.ns))
		create(ctx, grant) // admitted: its system does not exist yet
		w.addAccount(ctx, later, "sam@contractors.example.com")
		create(ctx, newSystem(later))
		cond := expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementNotAllowed)
		Expect(cond.Message).To(ContainSubstring("must set spec.entitlement.kind"))
		noBinding(ctx, grant)

		setKind := func(c client.Client, kind accessv1alpha1.EntitlementKind) error {
			return c.Patch(ctx, &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: grant.Name}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"entitlement":{"kind":"`+string(kind)+`"}}}`)))
		}
		allowGrantWriting(ctx, w.ns, "intern", "")
		expectRefused(setKind(impersonate("intern"), accessv1alpha1.EntitlementClusterRole), "you may not bind the ClusterRole view")
		Expect(setKind(k8sClient, accessv1alpha1.EntitlementClusterRole)).To(Succeed())
		expectBinding(ctx, grant, "view")
		err := setKind(k8sClient, accessv1alpha1.EntitlementRole)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("entitlement is immutable"))
	})

	It("holds a mass withdrawal after a bad edit of a system's lists until a person releases it", func(ctx SpecContext) {
		used := generousGuard().MinBudget - blastGuard.Remaining(0)
		blastGuard.SetOptions(guard.Options{MinBudget: used + 1, Window: time.Hour})
		DeferCleanup(func() { blastGuard.SetOptions(generousGuard()) })
		w := newWorld(ctx)
		grants := []*accessv1alpha1.AccessGrant{w.grant(ctx, "a"), w.grant(ctx, "b"), w.grant(ctx, "c")}
		for _, g := range grants {
			expectBinding(ctx, g, "edit")
		}
		mutate(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}, func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Kubernetes.AllowedClusterRoles = []string{"view"}
		})
		var held []*accessv1alpha1.AccessGrant
		Eventually(func(g Gomega) {
			withdrawn, heldNow := 0, []*accessv1alpha1.AccessGrant{}
			for _, grant := range grants {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
				switch grantReadyReason(grant) {
				case accessv1alpha1.ReasonEntitlementNotAllowed:
					withdrawn++
				case accessv1alpha1.ReasonHeldByGuard:
					heldNow = append(heldNow, grant)
				}
			}
			g.Expect(withdrawn).To(Equal(1))
			g.Expect(heldNow).To(HaveLen(2))
			held = heldNow
		}).WithContext(ctx).Should(Succeed())
		for _, g := range held {
			expectBinding(ctx, g, "edit")
		}
		mutate(ctx, held[0], func(g *accessv1alpha1.AccessGrant) {
			g.Annotations = map[string]string{accessv1alpha1.AnnotationGuardRelease: "true"}
		})
		expectBinding(ctx, held[0], "")
		expectState(ctx, held[0], accessv1alpha1.GrantPending)
	})

	It("admits exactly the grants the controller would enforce", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		create(ctx, newContractor(ns, "sam"))
		k8s := newSystem(uniqueName("k8s"), func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Kubernetes = &accessv1alpha1.KubernetesSettings{AllowedClusterRoles: []string{"view", "app-*", "*-reader"},
				AllowedRoles: []string{"deployer"}, AllowedNamespaces: []string{ns, "team-*"}}
		})
		dir := newSystem(uniqueName("dir"), withWebhook("https://hooks.example.com/", accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: "x"}),
			func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.AllowedEntitlements = []string{"cn=app-*,ou=groups,dc=example,dc=com", "wiki", "a*a", "*"}
			})
		create(ctx, k8s)
		create(ctx, dir)
		awaitRefusal(ctx, newGrant(ns, "probe", "sam", k8s.Name, roleGrant(accessv1alpha1.EntitlementClusterRole, "admin", ns)))
		awaitRefusal(ctx, newGrant(ns, "probe", "sam", dir.Name, roleGrant("", "not,allowed", "")))
		role := func(kind accessv1alpha1.EntitlementKind, name, namespace string) accessv1alpha1.Entitlement {
			return accessv1alpha1.Entitlement{Kind: kind, Name: name, Namespace: namespace}
		}
		cr, r := accessv1alpha1.EntitlementClusterRole, accessv1alpha1.EntitlementRole
		cases := map[*accessv1alpha1.ConnectedSystem][]accessv1alpha1.Entitlement{
			k8s: {role(cr, "view", ns), role(cr, "app-payments", ns), role(cr, "app-", "team-a"), role(cr, "ap", ns),
				role(cr, "secrets-reader", ns), role(cr, "secrets-reader-admin", ns), role(cr, "edit", ns), role(cr, "view", ""),
				role(cr, "view", "kube-system"), role(cr, "view", "team-b"), role(r, "deployer", ns), role(r, "view", ns),
				role("", "view", ns), role(cr, "app-x,y", ns)},
			dir: {{Name: "cn=app-x,ou=groups,dc=example,dc=com"}, {Name: "cn=app-x,ou=admins,ou=groups,dc=example,dc=com"},
				{Name: "cn=app-x;cn=admins,ou=groups,dc=example,dc=com"}, {Name: `cn=app-x\,ou=groups,dc=example,dc=com`},
				{Name: `cn=app-"x,y",ou=groups,dc=example,dc=com`}, {Name: "cn=app-x+uid=root,ou=groups,dc=example,dc=com"},
				{Name: "wiki"}, {Name: "Wiki"}, {Name: "a"}, {Name: "aa"}, {Name: "aba"}, {Name: "ünïcødé"}, {Name: "x,y"},
				{Name: "wiki", Kind: cr}, {Name: "wiki", Namespace: ns}},
		}
		for system, entitlements := range cases {
			for i, e := range entitlements {
				grant := newGrant(ns, fmt.Sprintf("case-%d", i), "sam", system.Name, func(g *accessv1alpha1.AccessGrant) { g.Spec.Entitlement = e })
				admitted := k8sClient.Create(ctx, grant, client.DryRunAll)
				enforced := system.AllowsEntitlement(e)
				Expect(admitted == nil).To(Equal(enforced == nil),
					"%s %+v: the admission policy says %v, the controller says %v", system.Name, e, admitted, enforced)
			}
		}
	})
})
