package controllers_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
	"github.com/portcullis-dev/portcullis/internal/guard"
)

// grantPolicy quarantines on geolocation findings and revokes on
// sanctioned-country findings, for the contractors labelled with the spec's
// namespace only, so that specs do not see each other's policies.
const grantPolicy = `package grants

quarantine contains {"msg": sprintf("seen in %s", [f.spec.evidence.country]), "code": "Abroad"} if {
	some f in input.findings
	f.spec.type == "geolocation"
}

quarantine contains {"msg": "Tor exit", "code": "Tor", "severity": "High"} if {
	some f in input.findings
	f.spec.type == "anonymizer"
	f.spec.anonymizerKind == "tor"
}

revoke contains {"msg": "sanctioned country", "code": "Sanctioned", "severity": "Critical"} if {
	some f in input.findings
	f.spec.type == "sanctioned-country"
}
`

// world is one spec's namespace, kubernetes system, contractor and policy.
type world struct {
	ns, system, contractor, policy string
}

func newWorld(ctx SpecContext) world {
	w := world{ns: newNamespace(ctx), system: uniqueName("cluster"), contractor: "sam", policy: uniqueName("grants")}
	create(ctx, newSystem(w.system))
	c := newContractor(w.ns, w.contractor, withAccount(w.system, "sam@contractors.example.com"))
	c.Labels = map[string]string{"portcullis-test": w.ns}
	create(ctx, c)
	pol := newPolicy(w.policy, grantPolicy)
	pol.Spec.ContractorSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"portcullis-test": w.ns}}
	create(ctx, pol)
	expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
	return w
}

func (w world) grant(ctx SpecContext, name string, opts ...func(*accessv1alpha1.AccessGrant)) *accessv1alpha1.AccessGrant {
	g := newGrant(w.ns, name, w.contractor, w.system, opts...)
	create(ctx, g)
	return g
}

func (w world) finding(ctx SpecContext, name string, typ accessv1alpha1.FindingType, country accessv1alpha1.CountryCode) *accessv1alpha1.Finding {
	f := newFinding(w.ns, name, w.contractor, func(f *accessv1alpha1.Finding) {
		f.Spec.Type = typ
		f.Spec.Evidence.Country = country
	})
	create(ctx, f)
	return f
}

// addAccount gives the world's contractor an account on another system.
func (w world) addAccount(ctx SpecContext, system, id string) {
	// A patch, not an update: the contractor's status changes under us.
	c := &accessv1alpha1.Contractor{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.contractor}, c)).To(Succeed())
	patch := client.MergeFrom(c.DeepCopy())
	c.Spec.Accounts = append(c.Spec.Accounts, accessv1alpha1.Account{System: system, ID: id})
	Expect(k8sClient.Patch(ctx, c, patch)).To(Succeed())
}

// binding returns the grant's RoleBinding, or nil when there is none.
func binding(ctx context.Context, g Gomega, grant *accessv1alpha1.AccessGrant) *rbacv1.RoleBinding {
	rb := &rbacv1.RoleBinding{}
	err := k8sClient.Get(ctx, client.ObjectKey{Namespace: grant.Spec.Entitlement.Namespace, Name: k8sconnector.BindingName(grant)}, rb)
	if apierrors.IsNotFound(err) {
		return nil
	}
	g.Expect(err).NotTo(HaveOccurred())
	return rb
}

// expectBinding waits until the grant's binding is to role (or gone, for "").
func expectBinding(ctx context.Context, grant *accessv1alpha1.AccessGrant, role string) {
	Eventually(func(g Gomega) {
		rb := binding(ctx, g, grant)
		if role == "" {
			g.Expect(rb).To(BeNil(), "the binding should be gone")
			return
		}
		g.Expect(rb).NotTo(BeNil(), "no binding yet")
		g.Expect(rb.RoleRef.Name).To(Equal(role))
		g.Expect(rb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "sam@contractors.example.com"}))
	}).WithContext(ctx).Should(Succeed())
}

// expectState waits until the grant's applied state is state.
func expectState(ctx context.Context, grant *accessv1alpha1.AccessGrant, state accessv1alpha1.GrantState) {
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
		g.Expect(grant.Status.Enforcement).NotTo(BeNil())
		g.Expect(grant.Status.Enforcement.State).To(Equal(state), "%+v\ndecision: %+v", grant.Status.Conditions, grant.Status.Decision)
	}).WithContext(ctx).Should(Succeed())
}

// eventReasons lists the reasons of the Events about an object.
func eventReasons(ctx context.Context, obj client.Object) []string {
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

var _ = Describe("AccessGrant enforcement in Kubernetes RBAC", func() {
	It("binds an allowed grant, quarantines it on a finding and restores it when the finding goes", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "g1")
		expectBinding(ctx, grant, "edit")
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		expectReady(ctx, grant, metav1.ConditionTrue, accessv1alpha1.ReasonEnforced)
		Expect(grant.Finalizers).To(ContainElement("access.portcullis.dev/entitlement"))

		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "BR")
		expectBinding(ctx, grant, "view")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		Expect(grant.Status.Decision.Action).To(Equal(accessv1alpha1.ActionQuarantine))
		Expect(grant.Status.Decision.Reasons).To(ContainElement(HaveField("Code", "Abroad")))
		Expect(grant.Status.Decision.PolicyRevision).NotTo(BeEmpty())

		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectBinding(ctx, grant, "edit")
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		Eventually(func() []string { return eventReasons(ctx, grant) }).WithContext(ctx).
			Should(ContainElements("Active", "Quarantined"))
	})

	It("records no Event for a grant Active from its first status, and one when it is Active again", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "g1")
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		By("being Active from the start is no news: the Event of a transition precedes its status")
		Expect(eventReasons(ctx, grant)).To(BeEmpty())

		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "BR")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		Expect(eventReasons(ctx, grant)).To(ConsistOf("Quarantined", "Active"))
	})

	It("leaves kubectl's copy of the applied object on what it patches, though its cache drops it", func(ctx SpecContext) {
		const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"
		w := newWorld(ctx)
		c := &accessv1alpha1.Contractor{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.contractor}, c)).To(Succeed())
		before := c.DeepCopy()
		c.Annotations = map[string]string{lastApplied: `{"kind":"Contractor"}`}
		Expect(k8sClient.Patch(ctx, c, client.MergeFrom(before))).To(Succeed())
		grant := w.grant(ctx, "g1", func(g *accessv1alpha1.AccessGrant) {
			g.Annotations = map[string]string{lastApplied: `{"kind":"AccessGrant"}`}
		})
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "BR")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectState(ctx, grant, accessv1alpha1.GrantActive)

		By("the finalizer, status and contractor patches kept the annotations")
		Expect(grant.Finalizers).NotTo(BeEmpty())
		Expect(grant.Annotations).To(HaveKeyWithValue(lastApplied, `{"kind":"AccessGrant"}`))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			g.Expect(c.Status.Grants.Active).To(BeEquivalentTo(1), "the contractor's status is written")
		}).WithContext(ctx).Should(Succeed())
		Expect(c.Annotations).To(HaveKeyWithValue(lastApplied, `{"kind":"Contractor"}`))
	})

	It("revokes for good: the binding stays gone after the finding is deleted", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "g1")
		expectBinding(ctx, grant, "edit")

		finding := w.finding(ctx, "kp", accessv1alpha1.FindingSanctionedCountry, "KP")
		expectState(ctx, grant, accessv1alpha1.GrantRevoked)
		expectBinding(ctx, grant, "")

		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
			g.Expect(grant.Status.Decision.Action).To(Equal(accessv1alpha1.ActionAllow))
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(binding(ctx, g, grant)).To(BeNil())
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
			g.Expect(grant.Status.Enforcement.State).To(Equal(accessv1alpha1.GrantRevoked))
		}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("removes the entitlement when the grant expires", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "g1", func(g *accessv1alpha1.AccessGrant) {
			g.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(3 * time.Second)}
		})
		expectBinding(ctx, grant, "edit")
		expectState(ctx, grant, accessv1alpha1.GrantExpired)
		expectBinding(ctx, grant, "")
	})

	It("removes the entitlement before the grant goes", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "g1")
		expectBinding(ctx, grant, "edit")
		Expect(k8sClient.Delete(ctx, grant)).To(Succeed())
		expectBinding(ctx, grant, "")
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), &accessv1alpha1.AccessGrant{})
		}).WithContext(ctx).Should(Satisfy(apierrors.IsNotFound))
	})

	It("repairs drift both ways", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "g1")
		expectBinding(ctx, grant, "edit")

		By("restoring a binding deleted out of band")
		Expect(k8sClient.Delete(ctx, binding(ctx, Default, grant))).To(Succeed())
		expectBinding(ctx, grant, "edit")

		By("restoring a binding edited out of band")
		rb := binding(ctx, Default, grant)
		mutate(ctx, rb, func(b *rbacv1.RoleBinding) {
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "helper@laptop-farm.example"})
		})
		expectBinding(ctx, grant, "edit")

		By("removing a binding re-created after revocation")
		w.finding(ctx, "kp", accessv1alpha1.FindingSanctionedCountry, "KP")
		expectState(ctx, grant, accessv1alpha1.GrantRevoked)
		expectBinding(ctx, grant, "")
		rb.ResourceVersion, rb.UID = "", ""
		Expect(k8sClient.Create(ctx, rb)).To(Succeed())
		expectBinding(ctx, grant, "")
		Eventually(func() []string { return eventReasons(ctx, grant) }).WithContext(ctx).Should(ContainElement("DriftRepaired"))
	})

	It("takes over a binding of its name that it did not create, and removes an unlabelled one on revocation", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := newGrant(w.ns, "g1", w.contractor, w.system)
		squatter := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: k8sconnector.BindingName(grant)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "someone@else.example"}},
		}
		Expect(k8sClient.Create(ctx, squatter)).To(Succeed())
		create(ctx, grant)
		expectBinding(ctx, grant, "edit")
		expectState(ctx, grant, accessv1alpha1.GrantActive)

		By("removing a binding without labels, invisible to the cache, on revocation")
		rb := binding(ctx, Default, grant)
		mutate(ctx, rb, func(b *rbacv1.RoleBinding) { b.Labels = nil })
		w.finding(ctx, "kp", accessv1alpha1.FindingSanctionedCountry, "KP")
		expectState(ctx, grant, accessv1alpha1.GrantRevoked)
		expectBinding(ctx, grant, "")
	})

	It("records what it would do on a dry-run system and changes nothing", func(ctx SpecContext) {
		w := newWorld(ctx)
		dry := newSystem(uniqueName("dry"))
		dry.Spec.DryRun = true
		create(ctx, dry)
		w.addAccount(ctx, dry.Name, "sam@contractors.example.com")

		grant := newGrant(w.ns, "dry", w.contractor, dry.Name)
		create(ctx, grant)
		cond := expectReady(ctx, grant, metav1.ConditionTrue, accessv1alpha1.ReasonDryRun)
		Expect(cond.Message).To(ContainSubstring("would be Active"))
		Expect(grant.Status.Enforcement.DryRun).To(BeTrue())
		Consistently(func(g Gomega) { g.Expect(binding(ctx, g, grant)).To(BeNil()) }).
			WithContext(ctx).WithTimeout(time.Second).Should(Succeed())
	})
})

var _ = Describe("The blast-radius guard", Serial, func() {
	It("holds a mass revocation after a bad policy push until a person releases it", func(ctx SpecContext) {
		// Leave exactly guardBudget restrictive transitions in a window
		// longer than the spec; what earlier specs used still counts.
		used := generousGuard().MinBudget - blastGuard.Remaining(0)
		blastGuard.SetOptions(guard.Options{MinBudget: used + guardBudget, Window: time.Hour})
		DeferCleanup(func() { blastGuard.SetOptions(generousGuard()) })
		Expect(blastGuard.Remaining(0)).To(Equal(guardBudget))

		w := newWorld(ctx)
		const n = guardBudget + 3
		grants := make([]*accessv1alpha1.AccessGrant, 0, n)
		for i := range n {
			grants = append(grants, w.grant(ctx, fmt.Sprintf("g%d", i)))
		}
		for _, g := range grants {
			expectBinding(ctx, g, "edit")
		}

		By("pushing a policy that revokes everyone")
		pol := &accessv1alpha1.AccessPolicy{}
		pol.Name = w.policy
		mutate(ctx, pol, func(p *accessv1alpha1.AccessPolicy) {
			p.Spec.Rego = "package bad\n\nrevoke contains {\"msg\": \"everyone out\", \"code\": \"BadPush\"} if true\n"
		})

		var held []*accessv1alpha1.AccessGrant
		Eventually(func(g Gomega) {
			revoked, heldNow := 0, []*accessv1alpha1.AccessGrant{}
			for _, grant := range grants {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant)).To(Succeed())
				switch {
				case grant.Status.Enforcement != nil && grant.Status.Enforcement.State == accessv1alpha1.GrantRevoked:
					revoked++
				case grantReadyReason(grant) == accessv1alpha1.ReasonHeldByGuard:
					heldNow = append(heldNow, grant)
				}
			}
			// At most the budget is revoked (less if anything else in the
			// cluster used some of it), and every other grant is held.
			g.Expect(revoked).To(BeNumerically(">=", 1))
			g.Expect(revoked).To(BeNumerically("<=", guardBudget))
			g.Expect(heldNow).To(HaveLen(n - revoked))
			held = heldNow
		}).WithContext(ctx).Should(Succeed())

		By("keeping the held grants' access")
		for _, grant := range held {
			expectBinding(ctx, grant, "edit")
			Expect(grant.Status.Enforcement.HeldSince).NotTo(BeNil())
			Expect(eventReasons(ctx, grant)).To(ContainElement(accessv1alpha1.ReasonHeldByGuard))
		}

		By("releasing one held grant")
		released := held[0]
		patch := client.MergeFrom(released.DeepCopy())
		released.Annotations = map[string]string{accessv1alpha1.AnnotationGuardRelease: "true"}
		Expect(k8sClient.Patch(ctx, released, patch)).To(Succeed())
		expectState(ctx, released, accessv1alpha1.GrantRevoked)
		expectBinding(ctx, released, "")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(released), released)).To(Succeed())
			g.Expect(released.Annotations).NotTo(HaveKey(accessv1alpha1.AnnotationGuardRelease))
		}).WithContext(ctx).Should(Succeed())
		expectReady(ctx, held[1], metav1.ConditionFalse, accessv1alpha1.ReasonHeldByGuard)
	})
})

func grantReadyReason(obj *accessv1alpha1.AccessGrant) string {
	for _, c := range obj.Status.Conditions {
		if c.Type == accessv1alpha1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}
