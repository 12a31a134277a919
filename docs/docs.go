// Package docs embeds the machine-readable documents of docs/, so the
// policy engine type-checks policies against the same input schema that
// policy authors read.
package docs

import _ "embed"

// PolicyInputSchema is the JSON Schema of the policy input document,
// generated from the CRDs by `make manifests`.
//
//go:embed policy-input.schema.json
var PolicyInputSchema []byte
