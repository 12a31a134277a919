package devenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKubernetesVersionMatchesControlPlaneModule keeps KubernetesVersion
// equal to the version that hack/controlplane/go.mod requires, which is what
// hack/build-controlplane.sh builds.
func TestKubernetesVersionMatchesControlPlaneModule(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "hack", "controlplane", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?k8s\.io/kubernetes\s+v(\S+)`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("hack/controlplane/go.mod requires no k8s.io/kubernetes")
	}
	if got := string(m[1]); got != KubernetesVersion {
		t.Errorf("hack/controlplane/go.mod requires k8s.io/kubernetes v%s, but KubernetesVersion is %s: change the constant with the module", got, KubernetesVersion)
	}
}

// TestControlPlaneDirIsWhereTheScriptBuilds checks that the directory name
// agrees with the one hack/build-controlplane.sh writes.
func TestControlPlaneDirIsWhereTheScriptBuilds(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "hack", "build-controlplane.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `/bin/k8s/${version#v}-` + controlPlanePlatform; !strings.Contains(string(raw), want) {
		t.Errorf("hack/build-controlplane.sh does not build into %s; ControlPlaneDir must name the same directory", want)
	}
	if got, want := ControlPlaneDir("/repo"), "/repo/bin/k8s/"+KubernetesVersion+"-linux-amd64"; got != want {
		t.Errorf("ControlPlaneDir = %s, want %s", got, want)
	}
}
