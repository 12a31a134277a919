// Package policies embeds the default Rego policy library: its modules, their
// unit tests, the reference data and the scenario suites. It holds only those
// files; internal/policy reads them (policy.DefaultModules,
// policy.DefaultData).
package policies

import "embed"

// Files holds the library: *.rego (modules and *_test.rego),
// portcullis/*.yaml (the reference data, laid out as `opa` loads it: this
// directory is OPA's data document, so the files load under
// data.portcullis) and scenarios/*/*.yaml (one suite a directory, so that
// `opa test policies/` loads them as data without a clash).
//
//go:embed *.rego portcullis/*.yaml scenarios/*/*.yaml
var Files embed.FS
