// Package rbac runs the manager as its own service account, with exactly
// the RBAC that config/rbac ships, against a real API server: what the
// manager may do is what a cluster gives it, so the test shows both that
// the shipped rules are enough and that they are the last line of defence
// when a ConnectedSystem is misconfigured.
package rbac

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/test/syncbuf"
)

// Namespace plays the manager's namespace (config/rbac says "system",
// which kustomize renames).
const Namespace = "portcullis-system"

// ServiceAccount is the manager's identity in the cluster.
var ServiceAccount = "system:serviceaccount:" + Namespace + ":controller-manager"

// ServiceAccountGroups are the groups the API server gives ServiceAccount.
func ServiceAccountGroups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"}
}

// StartAPIServer starts kube-apiserver and etcd with Portcullis's CRDs, and
// returns them, their config and an administrator's client. The manager's
// log goes to the test's output when it fails.
func StartAPIServer(t *testing.T, g gomega.Gomega) (*envtest.Environment, *rest.Config, client.Client) {
	logs := &syncbuf.Buffer{}
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export the line `make envtest` prints")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true, BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	scheme, err := manager.NewScheme()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	return env, cfg, admin
}

// InstallRBAC applies config/rbac in Namespace, as kustomize would.
func InstallRBAC(ctx context.Context, g gomega.Gomega, c client.Client) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "rbac", "*.yaml"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil || len(u.Object) == 0 {
				break
			}
			if u.GetNamespace() == "system" {
				u.SetNamespace(Namespace)
			}
			if subjects, ok, _ := unstructured.NestedSlice(u.Object, "subjects"); ok {
				for _, s := range subjects {
					s.(map[string]any)["namespace"] = Namespace
				}
				g.Expect(unstructured.SetNestedSlice(u.Object, subjects, "subjects")).To(gomega.Succeed())
			}
			g.Expect(c.Create(ctx, u)).To(gomega.Succeed(), "%s %s", u.GetKind(), u.GetName())
		}
	}
}
