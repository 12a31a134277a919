// Package samples embeds the sample resources, so that `portcullis dev` can
// apply them wherever it runs from.
package samples

import "embed"

// Files holds the sample manifests, applied in the order of their names.
//
//go:embed [0-9]*.yaml
var Files embed.FS

// TorExits is a Tor exit list for the samples' sign-ins.
//
//go:embed tor-exits.txt
var TorExits []byte
