// Package webhook embeds the generated ValidatingWebhookConfiguration, so
// that `portcullis dev` and the tests register exactly what `make
// manifests` wrote.
package webhook

import _ "embed"

// Manifests is manifests.yaml.
//
//go:embed manifests.yaml
var Manifests []byte
