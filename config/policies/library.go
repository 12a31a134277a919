// Package policies embeds the default policy library as the AccessPolicy
// manifests that `make manifests` generates from policies/, so that
// `portcullis dev` installs exactly what `kubectl apply -k config/policies`
// does.
package policies

import "embed"

// Files holds the manifests, one AccessPolicy a file, and the
// kustomization, which is not a resource to apply.
//
//go:embed *.yaml
var Files embed.FS
