package controllers_test

import (
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/scimserver"
)

var _ = Describe("Two grants of one contractor for the same group", func() {
	It("keeps the membership while one of them holds it, and removes it when both are gone", func(ctx SpecContext) {
		srv := scimserver.Start(GinkgoTB())
		user, group := srv.AddUser("sam@contractors.example.com"), srv.AddGroup("payments-engineers")
		groupWrites := func() int {
			return len(slices.DeleteFunc(srv.Writes(), func(w string) bool { return w != "PATCH /scim/v2/Groups/"+group }))
		}

		w := newWorld(ctx)
		system := w.scimSystem(ctx, srv)
		w.addAccount(ctx, system.Name, "sam@contractors.example.com")
		var grants []*accessv1alpha1.AccessGrant
		for _, name := range []string{"time-boxed", "permanent"} {
			g := newGrant(w.ns, name, w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
				g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments-engineers"}
			})
			create(ctx, g)
			grants = append(grants, g)
		}
		for _, g := range grants {
			expectState(ctx, g, accessv1alpha1.GrantActive)
		}
		Expect(srv.Member(group, user)).To(BeTrue())
		Expect(groupWrites()).To(Equal(1), "one PATCH adds sam; the second grant finds it a member")

		By("deleting one grant: the other still holds the group")
		expectDeleted(ctx, grants[0])
		Expect(srv.Member(group, user)).To(BeTrue())
		Consistently(groupWrites).WithContext(ctx).WithTimeout(time.Second).Should(Equal(1), "sam was taken out and put back")
		Eventually(func() []string { return eventReasons(ctx, grants[0]) }).WithContext(ctx).Should(ContainElement("EntitlementKept"))

		By("deleting the other: nobody holds it")
		expectDeleted(ctx, grants[1])
		Expect(srv.Member(group, user)).To(BeFalse())
	})
})

// expectDeleted deletes a grant and waits until it is gone, its
// entitlement handled.
func expectDeleted(ctx SpecContext, g *accessv1alpha1.AccessGrant) {
	Expect(k8sClient.Delete(ctx, g)).To(Succeed())
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKeyFromObject(g), &accessv1alpha1.AccessGrant{})
	}).WithContext(ctx).Should(Satisfy(apierrors.IsNotFound))
}
