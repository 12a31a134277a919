package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/guard"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// restartedEngine loads one AccessPolicy as a manager that has just
// started would: a new engine, the policies' state in the API server.
func restartedEngine(ctx SpecContext, store *controllers.LastGoodStore, name string) *policy.OPAEngine {
	data, err := policy.DefaultData()
	Expect(err).NotTo(HaveOccurred())
	fresh, err := policy.NewEngine(policy.Options{Data: data})
	Expect(err).NotTo(HaveOccurred())
	m, err := metrics.New(prometheus.NewRegistry())
	Expect(err).NotTo(HaveOccurred())
	r := &controllers.AccessPolicyReconciler{Client: k8sClient, APIReader: k8sClient, Clock: clock.RealClock{},
		Engine: fresh, Metrics: m, Sync: controllers.NewPolicySync(), LastGood: store}
	_, _ = r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: name}}) // a compile error is terminal
	return fresh
}

var _ = Describe("An AccessPolicy across a restart", func() {
	It("keeps its last good source in force, and fails closed without one", func(ctx SpecContext) {
		w := newWorld(ctx)
		store := &controllers.LastGoodStore{Client: k8sClient, Reader: k8sClient, Namespace: credentialsNS}
		Eventually(func(g Gomega) {
			source, found, err := store.Load(ctx, w.policy)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeTrue(), "the last good source was not saved")
			g.Expect(source).To(Equal(grantPolicy))
		}).WithContext(ctx).Should(Succeed())

		By("breaking the policy")
		pol := &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: w.policy}}
		mutate(ctx, pol, func(p *accessv1alpha1.AccessPolicy) { p.Spec.Rego = "package broken\n\nquarantine contains {" })
		expectReady(ctx, pol, metav1.ConditionFalse, accessv1alpha1.ReasonCompileError)

		contractor := &accessv1alpha1.Contractor{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.contractor}, contractor)).To(Succeed())
		input := policy.Input{Contractor: contractor, Grant: newGrant(w.ns, "g", w.contractor, w.system),
			System: newSystem(w.system), Now: time.Now(),
			Findings: []accessv1alpha1.Finding{*newFinding(w.ns, "abroad", w.contractor)}}

		By("restarting: the saved source is compiled and decides")
		fresh := restartedEngine(ctx, store, w.policy)
		Expect(fresh.Loaded()).To(HaveKeyWithValue(w.policy, policy.Revision(grantPolicy)))
		d, err := fresh.Decide(ctx, input)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Action).To(Equal(accessv1alpha1.ActionQuarantine))
		Expect(d.Reasons).To(ContainElement(HaveField("Code", "Abroad")))
		cond := readyCondition(ctx, Default, pol)
		Expect(cond.Message).To(ContainSubstring("stays in use"))

		By("restarting without a saved source: the policy's grants follow its failurePolicy")
		Expect(store.Delete(ctx, w.policy)).To(Succeed())
		fresh = restartedEngine(ctx, store, w.policy)
		Expect(fresh.Loaded()).NotTo(HaveKey(w.policy))
		input.Findings = nil
		d, err = fresh.Decide(ctx, input)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Action).To(Equal(accessv1alpha1.ActionQuarantine), "a policy that never compiled dropped out")
		Expect(d.Reasons).To(ContainElement(HaveField("Code", policy.CodePolicyError)))

		By("forgetting the source when the policy is deleted")
		mutate(ctx, pol, func(p *accessv1alpha1.AccessPolicy) { p.Spec.Rego = grantPolicy })
		Eventually(func(g Gomega) {
			_, found, err := store.Load(ctx, w.policy)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeTrue())
		}).WithContext(ctx).Should(Succeed())
		Expect(k8sClient.Delete(ctx, pol)).To(Succeed())
		Eventually(func(g Gomega) {
			_, found, err := store.Load(ctx, w.policy)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeFalse())
		}).WithContext(ctx).Should(Succeed())
	})
})

var _ = Describe("The blast-radius guard across a restart", func() {
	It("keeps its window in the manager's namespace", func(ctx SpecContext) {
		store := &controllers.GuardStore{Client: k8sClient, Reader: k8sClient, Namespace: newNamespace(ctx)}
		opts := guard.Options{MinBudget: 1, Window: time.Hour}
		first := guard.New(clock.RealClock{}, opts)
		first.UseStore(store)
		Expect(first.Restore(ctx)).To(Succeed())
		Expect(first.Admit("contractors/a", 0)).To(BeTrue())
		Expect(first.Persist(ctx)).To(Succeed())

		restarted := guard.New(clock.RealClock{}, opts)
		restarted.UseStore(store)
		Expect(restarted.Restore(ctx)).To(Succeed())
		Expect(restarted.Admit("contractors/b", 0)).To(BeFalse(), "a restart gave the window's budget back")
		Expect(restarted.Admit("contractors/a", 0)).To(BeTrue(), "a retry of an admitted transition was held")
	})
})
