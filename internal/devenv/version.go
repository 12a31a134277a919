package devenv

import "path/filepath"

// KubernetesVersion is the version of kube-apiserver that envtest and
// `portcullis dev` run. The source of truth is the version of
// k8s.io/kubernetes that hack/controlplane/go.mod requires: the Makefile and
// hack/build-controlplane.sh read it from there, and a test keeps this
// constant equal to it.
const KubernetesVersion = "1.37.2"

// controlPlanePlatform ends the name of the directory that
// hack/build-controlplane.sh builds into.
const controlPlanePlatform = "linux-amd64"

// ControlPlaneDir is the directory, below the repository root root, where
// `make controlplane` builds kube-apiserver and etcd:
// bin/k8s/<KubernetesVersion>-linux-amd64. An empty root gives the path
// relative to the root.
func ControlPlaneDir(root string) string {
	return filepath.Join(root, "bin", "k8s", KubernetesVersion+"-"+controlPlanePlatform)
}
