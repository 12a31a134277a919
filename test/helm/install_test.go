package helm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestChartInstalls installs the chart into a real API server with the
// Helm CLI, as a platform team would, pointing it at an image by digest
// (what `make image` writes to bin/image/digest), then upgrades and
// uninstalls it.
func TestChartInstalls(t *testing.T) {
	g := NewWithT(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "platform-team", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := admin.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())

	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	digest := "sha256:" + sixtyFourHex
	out, err := helm(t, "install", "portcullis", chart, "--kubeconfig", path, "--namespace", namespace, "--create-namespace",
		"--set", "image.repository=registry.example.com/portcullis", "--set", "image.digest="+digest)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("STATUS: deployed"))

	dep := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: namespace, Name: "portcullis-controller-manager"}
	g.Expect(c.Get(ctx, key, dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/portcullis@" + digest))
	g.Expect(*dep.Spec.Replicas).To(BeEquivalentTo(2))

	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	g.Expect(c.List(ctx, crds)).To(Succeed())
	var names []string
	for _, crd := range crds.Items {
		names = append(names, crd.Name)
	}
	g.Expect(names).To(ContainElements("accesspolicies.access.portcullis.dev", "accessgrants.access.portcullis.dev",
		"connectedsystems.access.portcullis.dev", "contractors.access.portcullis.dev", "findings.access.portcullis.dev",
		"policyexceptions.access.portcullis.dev", "signinsources.access.portcullis.dev", "signalstreams.access.portcullis.dev"))
	hook := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: "portcullis-validating-webhook-configuration"}, hook)).To(Succeed())
	g.Expect(hook.Webhooks[0].ClientConfig.Service.Namespace).To(Equal(namespace))
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "portcullis-webhook-server-cert"}, &corev1.Secret{})).To(Succeed())
	// This API server serves MutatingAdmissionPolicy: the chart installs
	// the grants' finalizer policy.
	g.Expect(c.Get(ctx, client.ObjectKey{Name: "portcullis-accessgrant-finalizer"}, &admissionregistrationv1.MutatingAdmissionPolicy{})).To(Succeed())

	out, err = helm(t, "upgrade", "portcullis", chart, "--kubeconfig", path, "--namespace", namespace, "--reuse-values",
		"--set", "replicaCount=3")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(c.Get(ctx, key, dep)).To(Succeed())
	g.Expect(*dep.Spec.Replicas).To(BeEquivalentTo(3))
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/portcullis@"+digest), "--reuse-values keeps the image")

	out, err = helm(t, "uninstall", "portcullis", "--kubeconfig", path, "--namespace", namespace)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Eventually(func() bool { return apierrors.IsNotFound(c.Get(ctx, key, &appsv1.Deployment{})) }).Should(BeTrue())
	g.Expect(c.Get(ctx, client.ObjectKey{Name: "accessgrants.access.portcullis.dev"}, &apiextensionsv1.CustomResourceDefinition{})).
		To(Succeed(), "Helm keeps the CRDs, and with them every grant and finding")
}
