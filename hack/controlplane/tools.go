// Package controlplane pins the programs that hack/build-controlplane.sh builds.
// The blank imports keep `go mod tidy` from dropping either module.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
)
