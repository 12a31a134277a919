package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/config/admission"
	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/manifests"
)

// installAdmission installs the admission policies of config/admission, as
// `kubectl apply -k config/default` does.
func installAdmission(ctx context.Context, c client.Client) {
	objs, err := manifests.DecodeFS(admission.Files, admission.Pattern)
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).To(HaveLen(12), "six policies, each with its binding")
	Expect(manifests.Apply(ctx, c, "suite", objs)).To(Succeed())
	// The allow-list policy refuses every grant until its informer of
	// ConnectedSystems has synced, and the finalizer policy changes nothing
	// until the API server has taken it in: wait for a grant the one must
	// admit and the other must give the finalizer.
	probe := newGrant("default", "admission-probe", "nobody", "no-such-system")
	Eventually(func(g Gomega) {
		grant := probe.DeepCopy()
		g.Expect(c.Create(ctx, grant, client.DryRunAll)).To(Succeed())
		g.Expect(grant.Finalizers).To(ContainElement(controllers.FinalizerEntitlement))
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
}

var _ = Describe("Admission", func() {
	It("gives a new grant the entitlement finalizer as it is written, keeping the finalizers it came with", func(ctx SpecContext) {
		// A dry run shows what admission makes of the grant, before the
		// controller could touch it.
		grant := newGrant("default", "finalized-on-create", "nobody", "no-such-system")
		grant.Finalizers = []string{"example.com/keep"}
		Expect(k8sClient.Create(ctx, grant, client.DryRunAll)).To(Succeed())
		Expect(grant.Finalizers).To(ConsistOf("example.com/keep", controllers.FinalizerEntitlement))
	})
})
