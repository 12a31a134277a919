package controllers_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// uniqueName returns a name for a cluster-scoped object of one spec.
func uniqueName(prefix string) string {
	return prefix + "-" + rand.String(6)
}

// create creates obj and deletes it when the spec ends.
func create(ctx SpecContext, obj client.Object) {
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
	})
}

var _ = Describe("AccessGrant status", func() {
	It("names the missing Contractor, then the missing ConnectedSystem, and recovers", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		system := uniqueName("cluster")
		grant := newGrant(ns, "g1", "alex", system)
		create(ctx, grant)

		cond := expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonContractorNotFound)
		Expect(cond.Message).To(ContainSubstring(`Contractor "alex" does not exist`))

		create(ctx, newContractor(ns, "alex"))
		cond = expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonConnectedSystemNotFound)
		Expect(cond.Message).To(ContainSubstring(system))

		create(ctx, newSystem(system))
		expectCondition(ctx, grant, accessv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue, accessv1alpha1.ReasonResolved)
		cond = expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonNoAccount)
		Expect(cond.Message).To(ContainSubstring("add it to spec.accounts"))
	})

	It("follows spec changes with observedGeneration", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		system := uniqueName("cluster")
		create(ctx, newSystem(system))
		create(ctx, newContractor(ns, "alex"))
		grant := newGrant(ns, "g1", "alex", system)
		create(ctx, grant)
		expectCondition(ctx, grant, accessv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue, accessv1alpha1.ReasonResolved)
		Expect(grant.Status.ObservedGeneration).To(Equal(int64(1)))

		mutate(ctx, grant, func(g *accessv1alpha1.AccessGrant) { g.Spec.Justification = "a new project" })
		Expect(grant.Generation).To(Equal(int64(2)))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
			g.Expect(grant.Status.ObservedGeneration).To(Equal(int64(2)))
		}).WithContext(ctx).Should(Succeed())
		expectCondition(ctx, grant, accessv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue, accessv1alpha1.ReasonResolved)
	})
})

var _ = Describe("Finding", func() {
	It("reports a missing Contractor and recovers when it appears", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		finding := newFinding(ns, "f1", "sam")
		create(ctx, finding)
		expectReady(ctx, finding, metav1.ConditionFalse, accessv1alpha1.ReasonContractorNotFound)
		create(ctx, newContractor(ns, "sam"))
		expectReady(ctx, finding, metav1.ConditionTrue, accessv1alpha1.ReasonActive)
	})

	It("is deleted once it expires", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		create(ctx, newContractor(ns, "sam"))
		past := newFinding(ns, "expired", "sam", withFindingExpiry(time.Now().Add(-time.Hour)))
		soon := newFinding(ns, "soon", "sam", withFindingExpiry(time.Now().Add(3*time.Second)))
		lasting := newFinding(ns, "lasting", "sam", withFindingExpiry(time.Now().Add(24*time.Hour)))
		for _, f := range []*accessv1alpha1.Finding{past, soon, lasting} {
			create(ctx, f)
		}
		expectReady(ctx, lasting, metav1.ConditionTrue, accessv1alpha1.ReasonActive)
		for _, f := range []*accessv1alpha1.Finding{past, soon} {
			Eventually(func() error {
				return k8sClient.Get(ctx, client.ObjectKeyFromObject(f), &accessv1alpha1.Finding{})
			}).WithContext(ctx).WithTimeout(20*time.Second).Should(Satisfy(apierrors.IsNotFound), f.Name)
		}
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(lasting), &accessv1alpha1.Finding{})
		}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())
	})
})

var _ = Describe("Contractor status", func() {
	It("counts active findings and checks that accounts name existing systems", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		system := uniqueName("idp")
		contractor := newContractor(ns, "kim", withAccount(system, "kim@example.com"))
		create(ctx, contractor)
		cond := expectReady(ctx, contractor, metav1.ConditionFalse, accessv1alpha1.ReasonConnectedSystemNotFound)
		Expect(cond.Message).To(ContainSubstring("spec.accounts[0]"))

		create(ctx, newSystem(system))
		expectReady(ctx, contractor, metav1.ConditionTrue, accessv1alpha1.ReasonResolved)

		create(ctx, newFinding(ns, "f1", "kim"))
		create(ctx, newFinding(ns, "f2", "kim"))
		create(ctx, newGrant(ns, "g1", "kim", system))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(contractor), contractor)).To(Succeed())
			g.Expect(contractor.Status.ActiveFindings).To(Equal(int32(2)))
			g.Expect(contractor.Status.Grants.Total).To(Equal(int32(1)))
		}).WithContext(ctx).Should(Succeed())
	})
})

var _ = Describe("Contractor status writes", func() {
	It("writes the summary once for a new grant, when the grant is decided", func(ctx SpecContext) {
		w := newWorld(ctx)
		contractor := &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: w.contractor}}
		expectReady(ctx, contractor, metav1.ConditionTrue, accessv1alpha1.ReasonResolved)
		writes := countModified(ctx, &accessv1alpha1.ContractorList{}, contractor)

		grant := w.grant(ctx, "g1")
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(contractor), contractor)).To(Succeed())
			g.Expect(contractor.Status.Grants).To(Equal(accessv1alpha1.GrantCounts{Total: 1, Active: 1}))
			g.Expect(contractor.Status.WorstDecision).To(Equal(accessv1alpha1.ActionAllow))
		}).WithContext(ctx).Should(Succeed())
		By("not writing the grant's count before its decision, then again after it")
		Consistently(writes.Load).WithContext(ctx).WithTimeout(time.Second).Should(Equal(int32(1)))
	})
})

// countModified counts the changes of obj from now until the spec ends.
func countModified(ctx SpecContext, list client.ObjectList, obj client.Object) *atomic.Int32 {
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	wi, err := wc.Watch(ctx, list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{"metadata.name": obj.GetName()})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(wi.Stop)
	n := &atomic.Int32{}
	go func() {
		for ev := range wi.ResultChan() {
			if ev.Type == watch.Modified {
				n.Add(1)
			}
		}
	}()
	return n
}

var _ = Describe("PolicyException", func() {
	It("is Ready while in force and Expired after its expiry", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		policy := uniqueName("policy")
		create(ctx, newPolicy(policy, "package t\n\nquarantine contains {\"msg\": \"never\"} if false\n"))
		create(ctx, newContractor(ns, "sam"))
		exception := newException(ns, "e1", "sam", policy, time.Now().Add(4*time.Second))
		create(ctx, exception)
		cond := expectReady(ctx, exception, metav1.ConditionTrue, accessv1alpha1.ReasonActive)
		Expect(cond.Message).To(ContainSubstring("in force until"))

		Eventually(func(g Gomega) {
			c := readyCondition(ctx, g, exception)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(accessv1alpha1.ReasonExpired))
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		By("telling each change of Ready once, as an Event; being Active from the start is no news")
		Eventually(func() []string { return eventReasons(ctx, exception) }).WithContext(ctx).
			Should(ConsistOf(accessv1alpha1.ReasonExpired))
	})

	It("reports a policy that does not exist", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		create(ctx, newContractor(ns, "sam"))
		exception := newException(ns, "e1", "sam", uniqueName("missing"), time.Now().Add(time.Hour))
		create(ctx, exception)
		expectReady(ctx, exception, metav1.ConditionFalse, accessv1alpha1.ReasonPolicyNotFound)
	})
})

var _ = Describe("AccessPolicy", func() {
	It("reports a compile error with line and column, and recovers when fixed", func(ctx SpecContext) {
		name := uniqueName("broken")
		pol := newPolicy(name, "package broken\n\nrevoke contains r if {\n\tr := {\"msg\": undefined_var}\n}\n")
		create(ctx, pol)
		cond := expectReady(ctx, pol, metav1.ConditionFalse, accessv1alpha1.ReasonCompileError)
		Expect(cond.Message).To(ContainSubstring(name + ":4:"))
		Expect(cond.Message).To(ContainSubstring("undefined_var"))

		Expect(engine.Loaded()).NotTo(HaveKey(name), "a policy that never compiled is not in use")

		mutate(ctx, pol, func(p *accessv1alpha1.AccessPolicy) {
			p.Spec.Rego = "package fixed\n\nrevoke contains {\"msg\": \"never\"} if false\n"
		})
		expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
		Expect(pol.Status.Revision).To(HaveLen(12))
		Expect(engine.Loaded()).To(HaveKeyWithValue(name, pol.Status.Revision))
	})

	It("keeps the last good revision in use while a new one fails, and drops a deleted policy", func(ctx SpecContext) {
		name := uniqueName("lastgood")
		pol := newPolicy(name, "package good\n\nquarantine contains {\"msg\": \"never\"} if false\n")
		create(ctx, pol)
		expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
		good := pol.Status.Revision

		mutate(ctx, pol, func(p *accessv1alpha1.AccessPolicy) {
			p.Spec.Rego = "package bad\n\nquarantine contains {\"msg\": x} if x := http.send({})\n"
		})
		cond := expectReady(ctx, pol, metav1.ConditionFalse, accessv1alpha1.ReasonCompileError)
		Expect(cond.Message).To(ContainSubstring(name + ":3:"))
		Expect(cond.Message).To(ContainSubstring("http.send is not allowed"))
		Expect(cond.Message).To(ContainSubstring("revision " + good + " stays in use"))
		Expect(pol.Status.Revision).To(Equal(good))
		Expect(engine.Loaded()).To(HaveKeyWithValue(name, good))
		Expect(testutil.ToFloat64(compileErrors(name))).To(BeNumerically(">=", 1))

		Expect(k8sClient.Delete(ctx, pol)).To(Succeed())
		Eventually(engine.Loaded).WithContext(ctx).ShouldNot(HaveKey(name))
	})

	It("shows evaluation errors in Ready, and clears them with a new revision", func(ctx SpecContext) {
		w := newWorld(ctx)
		name := uniqueName("erring")
		pol := newPolicy(name, "package erring\n\nrevoke contains {\"msg\": \"late\"} if {\n\ttime.parse_rfc3339_ns(input.contractor.spec.email) > 0\n}\n")
		pol.Spec.ContractorSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"portcullis-test": w.ns}}
		create(ctx, pol)
		expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
		grant := w.grant(ctx, "dev")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		cond := expectReady(ctx, pol, metav1.ConditionFalse, accessv1alpha1.ReasonEvaluationError)
		Expect(cond.Message).To(ContainSubstring("time.parse_rfc3339_ns"))
		Expect(cond.Message).To(ContainSubstring("followed its failurePolicy, Quarantine"))

		mutate(ctx, pol, func(p *accessv1alpha1.AccessPolicy) {
			p.Spec.Rego = "package fixed\n\nrevoke contains {\"msg\": \"never\"} if false\n"
		})
		expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
		expectState(ctx, grant, accessv1alpha1.GrantActive)
	})

	It("rejects a module that defines none of revoke, quarantine and risk", func(ctx SpecContext) {
		pol := newPolicy(uniqueName("norules"), "package norules\n\nallow := true\n")
		create(ctx, pol)
		cond := expectReady(ctx, pol, metav1.ConditionFalse, accessv1alpha1.ReasonCompileError)
		Expect(cond.Message).To(ContainSubstring("defines none of revoke, quarantine and risk"))
		Eventually(func() []string { return eventReasons(ctx, pol) }).WithContext(ctx).
			Should(ConsistOf(accessv1alpha1.ReasonCompileError))
	})

	It("reads its source from a ConfigMap and follows it", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		pol := newPolicy(uniqueName("fromcm"), "")
		pol.Spec.RegoFrom = &accessv1alpha1.ConfigMapKeyReference{Namespace: ns, Name: "rego", Key: "policy.rego"}
		create(ctx, pol)
		expectReady(ctx, pol, metav1.ConditionFalse, accessv1alpha1.ReasonConfigMapNotFound)

		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rego"},
			Data:       map[string]string{"policy.rego": "package cm\n\nquarantine contains {\"msg\": \"never\"} if false\n"},
		}
		create(ctx, cm)
		expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
	})
})

var _ = Describe("ConnectedSystem", func() {
	It("checks its credentials Secret and its connectivity, and never shows the values", func(ctx SpecContext) {
		ns, name := credentialsNS, uniqueName("hook")
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		DeferCleanup(receiver.Close)
		system := newSystem(uniqueName("hook"), withWebhook(receiver.URL, accessv1alpha1.SecretReference{Namespace: ns, Name: name}))
		create(ctx, system)
		expectReady(ctx, system, metav1.ConditionFalse, accessv1alpha1.ReasonSecretNotFound)

		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data:       map[string][]byte{"wrong-key": []byte("s3cr3t-value")},
		}
		create(ctx, secret)
		cond := expectReady(ctx, system, metav1.ConditionFalse, accessv1alpha1.ReasonCredentialsIncomplete)
		Expect(cond.Message).To(ContainSubstring("hmacKey"))
		Eventually(func() []string { return eventReasons(ctx, system) }).WithContext(ctx).
			Should(ContainElements(accessv1alpha1.ReasonSecretNotFound, accessv1alpha1.ReasonCredentialsIncomplete))

		secret.Data = map[string][]byte{"hmacKey": secretUsed("s3cr3t-value")}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		expectReady(ctx, system, metav1.ConditionTrue, accessv1alpha1.ReasonConnected)
		Expect(system.Status.LastCheckedAt).NotTo(BeNil())

		raw, err := yaml.Marshal(system)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring("s3cr3t-value"))
	})

	It("reports an unreachable system", func(ctx SpecContext) {
		ns, name := credentialsNS, uniqueName("hook")
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		url := receiver.URL
		receiver.Close()
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data: map[string][]byte{"hmacKey": []byte("k")}})
		system := newSystem(uniqueName("gone"), withWebhook(url, accessv1alpha1.SecretReference{Namespace: ns, Name: name}))
		create(ctx, system)
		cond := expectReady(ctx, system, metav1.ConditionFalse, accessv1alpha1.ReasonUnreachable)
		Expect(cond.Message).To(ContainSubstring("connection refused"))
	})
})

// compileErrors returns the compile-error counter of one policy.
func compileErrors(name string) prometheus.Collector {
	families, err := registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "found"})
	for _, f := range families {
		if f.GetName() != "portcullis_policy_compile_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "policy" && l.GetValue() == name {
					counter.Add(m.GetCounter().GetValue())
				}
			}
		}
	}
	return counter
}
