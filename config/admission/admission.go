// Package admission embeds the ValidatingAdmissionPolicies and their
// bindings, so that `portcullis dev` and the tests install exactly what
// `kubectl apply -k config/default` does.
package admission

import "embed"

// Files holds the policies, one file each with its binding.
//
//go:embed *_*.yaml
var Files embed.FS

// Pattern matches the policy files of Files.
const Pattern = "*_*.yaml"
