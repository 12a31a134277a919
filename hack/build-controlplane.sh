#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into
# bin/k8s/<kubernetes version>/, the directory that envtest reads through
# KUBEBUILDER_ASSETS and that `portcullis dev` runs from.
#
# Needs only Go. The first build takes several minutes; later runs find the
# binaries in place and return at once. Set FORCE=1 to rebuild.
#
# Usage: hack/build-controlplane.sh [OUTPUT_DIR]
# Prints the output directory on stdout when done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="${root}/hack/controlplane"
version="$(cd "${module}" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
out="${1:-${root}/bin/k8s/${version#v}-linux-amd64}"
out="$(mkdir -p "${out}" && cd "${out}" && pwd)"

if [[ -z "${FORCE:-}" && -x "${out}/kube-apiserver" && -x "${out}/etcd" ]]; then
	echo "${out}"
	exit 0
fi

etcd_version="$(cd "${module}" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
echo "Building kube-apiserver ${version} and etcd ${etcd_version} into ${out} (several minutes on a cold cache)" >&2

cd "${module}"
export CGO_ENABLED=0
ldflags_k8s="-s -w -X k8s.io/component-base/version.gitVersion=${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "${version}" | cut -d. -f2)"
# Build into temporary names and rename, so an interrupted build never
# leaves a half-written binary that a later run would take as done.
go build -trimpath -ldflags "${ldflags_k8s}" -o "${out}/.kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "-s -w" -o "${out}/.etcd.tmp" go.etcd.io/etcd/server/v3
mv "${out}/.kube-apiserver.tmp" "${out}/kube-apiserver"
mv "${out}/.etcd.tmp" "${out}/etcd"
echo "${out}"
