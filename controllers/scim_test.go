package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/scimserver"
)

var _ = Describe("AccessGrant enforcement through SCIM", func() {
	It("adds the user to the group, deactivates on quarantine, and waits out a failing provider", func(ctx SpecContext) {
		srv := scimserver.Start(GinkgoTB())
		user, group := srv.AddUser("sam@contractors.example.com"), srv.AddGroup("payments-engineers")

		w := newWorld(ctx)
		system := w.scimSystem(ctx, srv)
		w.addAccount(ctx, system.Name, "sam@contractors.example.com")

		grant := newGrant(w.ns, "idp", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments-engineers"}
		})
		create(ctx, grant)
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		Expect(srv.Member(group, user)).To(BeTrue())

		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "RU")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		Expect(srv.Active(user)).To(BeFalse())

		srv.SetDown(true)
		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonEnforcementFailed)
		Expect(grant.Status.Enforcement.State).To(Equal(accessv1alpha1.GrantQuarantined))
		srv.SetDown(false)
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		Expect(srv.Active(user)).To(BeTrue())
	})
})
