package ssftx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/portcullis-dev/portcullis/internal/devenv"
)

// restConfig reaches the envtest API server every test shares; each test
// works in its own namespace.
var restConfig *rest.Config

// TestMain starts etcd and kube-apiserver from $KUBEBUILDER_ASSETS or the
// directory `make controlplane` builds, and fails when there is none.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = devenv.ControlPlaneDir(filepath.Join("..", ".."))
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
			fmt.Fprintf(os.Stderr, "no kube-apiserver in %s and KUBEBUILDER_ASSETS is not set: run `make controlplane` once, or the tests with `make test`\n", dir)
			return 1
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: dir}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = 2 * time.Minute
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the API server: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restConfig = cfg
	return m.Run()
}

// eventually polls cond every 20 ms for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
