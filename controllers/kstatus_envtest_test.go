package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

var _ = Describe("kstatus", func() {
	It("reads a new object as in progress until the controller writes its status, then Current or Failed", func(ctx SpecContext) {
		pol := newPolicy(uniqueName("fresh"), "package fresh\n\nquarantine contains {\"msg\": \"never\"} if false\n")
		pol.APIVersion, pol.Kind = accessv1alpha1.GroupVersion.String(), "AccessPolicy"
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pol)
		Expect(err).NotTo(HaveOccurred())
		fresh := &unstructured.Unstructured{Object: raw}
		// A dry run returns the object as the API server would store it,
		// defaults included, and no controller ever sees it.
		Expect(k8sClient.Create(ctx, fresh, client.DryRunAll)).To(Succeed())
		res, err := status.Compute(fresh)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), "%v", fresh.Object["status"])

		create(ctx, pol)
		expectKstatus(ctx, pol, status.CurrentStatus)
		broken := newPolicy(uniqueName("broken"), "package broken\n\nquarantine contains r if {\n")
		create(ctx, broken)
		expectKstatus(ctx, broken, status.FailedStatus)
	})
})

// expectKstatus waits until kstatus reads obj as want.
func expectKstatus(ctx SpecContext, obj client.Object, want status.Status) {
	Eventually(func(g Gomega) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
		if u.GetKind() == "" {
			u.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("AccessPolicy"))
		}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
		res, err := status.Compute(u)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(want), res.Message)
	}).WithContext(ctx).Should(Succeed())
}
