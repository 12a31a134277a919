package controllers_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/manifests"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

var _ = Describe("The samples", func() {
	It("apply, and every object becomes Ready", func(ctx SpecContext) {
		objs, err := manifests.DecodeFS(samples.Files, "*.yaml")
		Expect(err).NotTo(HaveOccurred())
		samples.Refresh(objs, time.Now())
		Expect(manifests.Apply(ctx, k8sClient, "samples-test", objs)).To(Succeed())
		deletePoliciesAfter(objs)

		kinds := map[string]bool{}
		for _, u := range objs {
			if u.GroupVersionKind().Group != accessv1alpha1.GroupVersion.Group {
				continue
			}
			kinds[u.GetKind()] = true
			obj, err := scheme.New(u.GroupVersionKind())
			Expect(err).NotTo(HaveOccurred())
			typed := obj.(client.Object)
			typed.SetNamespace(u.GetNamespace())
			typed.SetName(u.GetName())
			expectReady(ctx, typed, metav1.ConditionTrue, readyReason(u.GetKind()))
		}
		Expect(kinds).To(HaveLen(6), "the samples tell one story across all six kinds")
	})
})

// readyReason is the reason of a ready object of each kind.
func readyReason(kind string) string {
	switch kind {
	case "AccessPolicy":
		return accessv1alpha1.ReasonCompiled
	case "ConnectedSystem":
		return accessv1alpha1.ReasonConnected
	case "AccessGrant":
		return accessv1alpha1.ReasonEnforced
	case "Finding", "PolicyException":
		return accessv1alpha1.ReasonActive
	}
	return accessv1alpha1.ReasonResolved
}

var _ = Describe("The connector samples", func() {
	It("pass the API server's validation", func(ctx SpecContext) {
		objs, err := manifests.DecodeFS(os.DirFS(filepath.Join("..", "config", "samples", "connectors")), "*.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).NotTo(BeEmpty())
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "contractors"}}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, ns))).To(Succeed())
		for _, o := range objs {
			err := k8sClient.Create(ctx, o, client.DryRunAll)
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
		}
	})
})

var _ = Describe("The default policy library", func() {
	It("installs from config/policies, compiles, and matches policies/ exactly", func(ctx SpecContext) {
		objs, err := manifests.DecodeFS(os.DirFS(filepath.Join("..", "config", "policies")), "*.yaml")
		Expect(err).NotTo(HaveOccurred())
		var applied []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == "AccessPolicy" {
				applied = append(applied, o)
			}
		}
		modules, err := policy.DefaultModules()
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(HaveLen(len(modules)), "one AccessPolicy per module: run `make manifests`")
		Expect(manifests.Apply(ctx, k8sClient, "library-test", applied)).To(Succeed())
		deletePoliciesAfter(applied)

		for _, m := range modules {
			pol := &accessv1alpha1.AccessPolicy{}
			pol.Name = m.Name
			expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
			Expect(pol.Spec.Rego).To(Equal(m.Source), "config/policies/%s.yaml is stale: run `make manifests`", m.Name)
			Expect(pol.Status.Revision).To(Equal(policy.Revision(m.Source)))
			Expect(engine.Loaded()).To(HaveKeyWithValue(m.Name, pol.Status.Revision))
		}
	})
})

// deletePoliciesAfter deletes the AccessPolicies among objs when the spec
// ends: they select every contractor and would decide other specs' grants.
func deletePoliciesAfter(objs []*unstructured.Unstructured) {
	DeferCleanup(func(ctx SpecContext) {
		for _, o := range objs {
			if o.GetKind() == "AccessPolicy" {
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, o))).To(Succeed())
			}
		}
	})
}
