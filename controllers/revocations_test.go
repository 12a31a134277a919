package controllers_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

var _ = Describe("Revocation records", func() {
	It("keeps an entitlement revoked when its grant is deleted and re-created, until a person clears the record", func(ctx SpecContext) {
		w := newWorld(ctx)
		grant := w.grant(ctx, "dev")
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		key := accessv1alpha1.RevocationKey(w.system, grant.Spec.Entitlement)

		finding := w.finding(ctx, "kp", accessv1alpha1.FindingSanctionedCountry, "KP")
		expectState(ctx, grant, accessv1alpha1.GrantRevoked)
		contractor := &accessv1alpha1.Contractor{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.contractor}, contractor)).To(Succeed())
		Expect(contractor.Annotations).To(HaveKeyWithValue(key, ContainSubstring(`"grant":"dev"`)))
		Expect(contractor.Annotations[key]).To(ContainSubstring(`"reasons":["Sanctioned"]`))
		Expect(eventReasons(ctx, contractor)).To(ContainElement("RevocationRecorded"))

		By("re-creating the grant, as a GitOps re-sync would, after the finding is gone")
		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		Expect(k8sClient.Delete(ctx, grant)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(grant), grant))
		}).WithContext(ctx).Should(BeTrue())
		// The contractor's count of active findings comes from the
		// manager's cache, which the grants are decided from: once it is 0,
		// no new grant can be decided on the deleted finding (which would
		// revoke it, rightly, and for good).
		Eventually(func(g Gomega) {
			c := &accessv1alpha1.Contractor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.contractor}, c)).To(Succeed())
			g.Expect(c.Status.ActiveFindings).To(BeZero())
		}).WithContext(ctx).Should(Succeed())
		again := w.grant(ctx, "dev")
		expectState(ctx, again, accessv1alpha1.GrantRevoked)
		Expect(again.Status.Decision.Action).To(Equal(accessv1alpha1.ActionAllow), "the policies allow it; the record revokes it")
		Consistently(func(g Gomega) { g.Expect(binding(ctx, g, again)).To(BeNil()) }).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())

		By("leaving other entitlements of the contractor alone")
		other := w.grant(ctx, "viewer", roleGrant(accessv1alpha1.EntitlementClusterRole, "view", w.ns))
		expectState(ctx, other, accessv1alpha1.GrantActive)

		By("refusing a contractor editor who clears the record or deletes the contractor")
		allowGrantWriting(ctx, w.ns, "editor", "")
		editor := impersonate("editor")
		cleared := contractor.DeepCopy()
		delete(cleared.Annotations, key)
		expectRefused(editor.Patch(ctx, cleared, client.MergeFrom(contractor)), "needs the permission to delete contractors/revocations")
		create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "editor-delete"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"contractors"}, Verbs: []string{"delete"}}}})
		create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "editor-delete"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "editor-delete"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "editor"}}})
		Eventually(func() error { return editor.Delete(ctx, contractor.DeepCopy()) }).WithContext(ctx).
			Should(MatchError(ContainSubstring("carries the revocation record")))

		By("letting the security team clear it: a new grant is then decided again")
		raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "revocation_admin_role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		adminRole := fromYAML("", string(raw))
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, adminRole))).To(Succeed())
		create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "security"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "portcullis-revocation-admin"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "editor"}}})
		Eventually(func() error {
			c := &accessv1alpha1.Contractor{}
			if err := editor.Get(ctx, client.ObjectKeyFromObject(contractor), c); err != nil {
				return err
			}
			patch := client.MergeFrom(c.DeepCopy())
			delete(c.Annotations, key)
			return editor.Patch(ctx, c, patch)
		}).WithContext(ctx).Should(Succeed())
		expectState(ctx, again, accessv1alpha1.GrantRevoked) // still terminal for the grant itself
		fresh := w.grant(ctx, "dev-2")
		expectState(ctx, fresh, accessv1alpha1.GrantActive)
	})
})
