// Package crd embeds the generated CustomResourceDefinitions, so that
// `portcullis dev` and the tests install exactly what `make manifests` wrote.
package crd

import "embed"

// Bases holds bases/*.yaml, one CRD a file.
//
//go:embed bases/*.yaml
var Bases embed.FS
