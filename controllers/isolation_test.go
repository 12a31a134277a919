package controllers_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/test/scimserver"
)

// grantException exempts one grant from the world's policy.
func (w world) grantException(ctx SpecContext, grant string) {
	e := newException(w.ns, uniqueName("only-"+grant), w.contractor, w.policy, time.Now().Add(24*time.Hour))
	e.Spec.ContractorRef, e.Spec.GrantRef = nil, &accessv1alpha1.GrantReference{Name: grant}
	create(ctx, e)
	expectReady(ctx, e, metav1.ConditionTrue, accessv1alpha1.ReasonActive)
}

var _ = Describe("Account-level state", func() {
	It("keeps a PostgreSQL login refused while any of the contractor's grants there is quarantined", func(ctx SpecContext) {
		srv, admin := startPostgres(ctx)
		_, err := admin.Exec(ctx, `CREATE ROLE reports_ro NOLOGIN`)
		Expect(err).NotTo(HaveOccurred())
		w := newWorld(ctx)
		system := w.postgresSystem(ctx, srv)
		w.addAccount(ctx, system.Name, "sam")
		canLogin := func() bool {
			var ok bool
			Expect(admin.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = 'sam'`).Scan(&ok)).To(Succeed())
			return ok
		}
		member := func(role string) bool {
			var ok bool
			Expect(admin.QueryRow(ctx, `SELECT pg_has_role('sam', $1, 'MEMBER')`, role).Scan(&ok)).To(Succeed())
			return ok
		}

		payments := newGrant(w.ns, "payments", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments_rw"}
		})
		reports := newGrant(w.ns, "reports", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "reports_ro"}
		})
		create(ctx, payments)
		create(ctx, reports)
		expectState(ctx, payments, accessv1alpha1.GrantActive)
		expectState(ctx, reports, accessv1alpha1.GrantActive)
		Expect(canLogin()).To(BeTrue())
		w.grantException(ctx, "reports")

		By("quarantining one grant: the other, exempt and Active, does not give the login back")
		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "RU")
		expectState(ctx, payments, accessv1alpha1.GrantQuarantined)
		Consistently(func(g Gomega) {
			g.Expect(canLogin()).To(BeFalse(), "a sibling grant's drift repair gave the login back")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(reports), reports)).To(Succeed())
			g.Expect(reports.Status.Enforcement.State).To(Equal(accessv1alpha1.GrantActive))
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
		Expect(member("payments_rw")).To(BeTrue())
		Expect(member("reports_ro")).To(BeTrue())

		By("lifting the quarantine: the login comes back")
		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectState(ctx, payments, accessv1alpha1.GrantActive)
		Eventually(canLogin).WithContext(ctx).Should(BeTrue())

		By("moving the contractor to another account: the former one loses the roles")
		_, err = admin.Exec(ctx, `CREATE ROLE sam2 LOGIN`)
		Expect(err).NotTo(HaveOccurred())
		mutate(ctx, &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: w.contractor}},
			func(c *accessv1alpha1.Contractor) {
				for i := range c.Spec.Accounts {
					if c.Spec.Accounts[i].System == system.Name {
						c.Spec.Accounts[i].ID = "sam2"
					}
				}
			})
		Eventually(func() bool { return member("payments_rw") || member("reports_ro") }).WithContext(ctx).Should(BeFalse())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(payments), payments)).To(Succeed())
			g.Expect(payments.Status.Enforcement.Account).To(Equal("sam2"))
		}).WithContext(ctx).Should(Succeed())
	})

	It("keeps a SCIM user inactive while any of the contractor's grants there is quarantined", func(ctx SpecContext) {
		srv := scimserver.Start(GinkgoTB())
		user := srv.AddUser("sam@contractors.example.com")
		srv.AddGroup("engineering")
		srv.AddGroup("billing")
		w := newWorld(ctx)
		system := w.scimSystem(ctx, srv)
		w.addAccount(ctx, system.Name, "sam@contractors.example.com")
		eng := newGrant(w.ns, "eng", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "engineering"}
		})
		billing := newGrant(w.ns, "billing", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "billing"}
		})
		create(ctx, eng)
		create(ctx, billing)
		expectState(ctx, eng, accessv1alpha1.GrantActive)
		expectState(ctx, billing, accessv1alpha1.GrantActive)
		w.grantException(ctx, "billing")

		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "RU")
		expectState(ctx, eng, accessv1alpha1.GrantQuarantined)
		writes := len(srv.Writes())
		Consistently(func() bool { return srv.Active(user) }).WithContext(ctx).WithTimeout(3 * time.Second).Should(BeFalse())
		Expect(srv.Writes()).To(HaveLen(writes), "a sibling grant flipped the user's activation")

		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectState(ctx, eng, accessv1alpha1.GrantActive)
		Eventually(func() bool { return srv.Active(user) }).WithContext(ctx).Should(BeTrue())
	})
})

var _ = Describe("ConnectedSystem lifecycle", func() {
	It("waits for the grants that hold access through a deleted system, and grants nothing new on it", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "dev")
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(system), system)).To(Succeed())
			g.Expect(system.Finalizers).To(ContainElement(controllers.FinalizerGrants))
		}).WithContext(ctx).Should(Succeed())

		Expect(k8sClient.Delete(ctx, system)).To(Succeed())
		cond := expectReady(ctx, system, metav1.ConditionFalse, accessv1alpha1.ReasonInUse)
		Expect(cond.Message).To(ContainSubstring(w.ns + "/dev"))

		late := w.grant(ctx, "late")
		expectReady(ctx, late, metav1.ConditionFalse, accessv1alpha1.ReasonSystemDeleting)
		Consistently(func(g Gomega) { g.Expect(binding(ctx, g, late)).To(BeNil()) }).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())

		By("still enforcing a revocation on it, after which the system goes")
		w.finding(ctx, "kp", accessv1alpha1.FindingSanctionedCountry, "KP")
		expectState(ctx, grant, accessv1alpha1.GrantRevoked)
		Eventually(func(g Gomega) { g.Expect(binding(ctx, g, grant)).To(BeNil()) }).WithContext(ctx).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(system), system))
		}).WithContext(ctx).Should(BeTrue())
	})

	It("keeps a deleted grant until its missing system comes back to remove its access", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "dev")
		expectState(ctx, grant, accessv1alpha1.GrantActive)

		By("losing the system without its finalizer, as a restore that misses it would")
		system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.system}}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(system), system)).To(Succeed())
		kept := system.DeepCopy()
		Expect(k8sClient.Delete(ctx, system)).To(Succeed())
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(system), system); err != nil {
				return err
			}
			controllerutil.RemoveFinalizer(system, controllers.FinalizerGrants)
			return k8sClient.Update(ctx, system)
		}).WithContext(ctx).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(system), system))
		}).WithContext(ctx).Should(BeTrue())

		Expect(k8sClient.Delete(ctx, grant)).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
			g.Expect(binding(ctx, g, grant)).NotTo(BeNil())
		}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())
		Eventually(func() []string { return eventReasons(ctx, grant) }).WithContext(ctx).
			Should(ContainElement(accessv1alpha1.ReasonEnforcementFailed))

		By("re-creating the system: the binding goes, then the grant")
		create(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: kept.Name}, Spec: kept.Spec})
		Eventually(func(g Gomega) { g.Expect(binding(ctx, g, grant)).To(BeNil()) }).WithContext(ctx).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant))
		}).WithContext(ctx).Should(BeTrue())
	})
})

// hangingReceiver answers HEAD (the connectivity check) and holds every
// delivery until released, counting how many it holds at once.
type hangingReceiver struct {
	release chan struct{}
	mu      sync.Mutex
	now     int
	most    int
}

func (h *hangingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		return
	}
	h.mu.Lock()
	h.now++
	h.most = max(h.most, h.now)
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-r.Context().Done():
	}
	h.mu.Lock()
	h.now--
	h.mu.Unlock()
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (h *hangingReceiver) held() (now, most int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now, h.most
}

var _ = Describe("Isolation between systems", func() {
	It("quarantines on a healthy system while another system's receiver hangs", func(ctx SpecContext) {
		w := newWorld(ctx)
		healthy := w.grant(ctx, "dev")
		expectState(ctx, healthy, accessv1alpha1.GrantActive)

		rc := &hangingReceiver{release: make(chan struct{})}
		server := httptest.NewServer(rc)
		DeferCleanup(server.Close)
		DeferCleanup(func() { close(rc.release) })
		secretName := uniqueName("hang")
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: secretName},
			Data: map[string][]byte{"hmacKey": secretUsed("hang-hmac-key-0123456789")}})
		system := newSystem(uniqueName("hang"), withWebhook(server.URL, accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: secretName}))
		create(ctx, system)
		for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
			other := newContractor(w.ns, "hang-"+name, withAccount(system.Name, "ext-"+name))
			create(ctx, other)
			create(ctx, newGrant(w.ns, "hang-"+name, other.Name, system.Name, func(g *accessv1alpha1.AccessGrant) {
				g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments-admin"}
			}))
		}
		Eventually(func() int { now, _ := rc.held(); return now }).WithContext(ctx).Should(BeNumerically(">=", 1))

		w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "RU")
		expectState(ctx, healthy, accessv1alpha1.GrantQuarantined)
		now, most := rc.held()
		Expect(now).To(BeNumerically(">=", 1), "the receiver was released before the quarantine")
		Expect(most).To(BeNumerically("<=", 2), "one system took more than its share of the workers")
	})
})
