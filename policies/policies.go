// Package policies embeds the default Rego policy library: its modules, their
// unit tests, the reference data and the scenario suites. It holds only those
// files; internal/policy reads them (policy.DefaultModules,
// policy.DefaultData).
package policies

import "embed"

// Files holds the library: *.rego (modules and *_test.rego),
// data/portcullis/*.yaml (the reference data, laid out as `opa` loads it:
// the directory under data/ is the path in data) and scenarios/*.yaml.
//
//go:embed *.rego data/portcullis/*.yaml scenarios/*.yaml
var Files embed.FS
