package policy

import (
	"bytes"
	"encoding/json"
)

// CapabilitiesFile is where the default library keeps the sandbox's
// capabilities, relative to the repository root.
const CapabilitiesFile = "policies/capabilities.json"

// SandboxCapabilitiesJSON returns the capabilities Portcullis compiles
// policies with (OPA's builtins less the forbidden ones, no network), as
// the indented JSON that `opa check --capabilities FILE` and
// `opa test --capabilities FILE` read: those tools then refuse the
// builtins Portcullis refuses.
func SandboxCapabilitiesJSON() ([]byte, error) {
	caps := sandboxCapabilities()
	raw, err := json.Marshal(caps)
	if err != nil {
		return nil, err
	}
	// OPA leaves out an empty allow_net, which would then read as "every
	// host"; write the empty list so that the file says no host is allowed.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	doc["allow_net"] = caps.AllowNet
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
