package main

import (
	"fmt"
	"io"
	"time"

	"github.com/portcullis-dev/portcullis/internal/offline"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// printInputs writes, as indented JSON, the input document the engine
// evaluates for each grant: an object keyed by namespace/name, or only the
// named grant's document when grant is set.
func printInputs(out io.Writer, res *offline.Resources, engine policy.Engine, now time.Time, grant string) error {
	builder, ok := engine.(offline.InputBuilder)
	if !ok {
		return fmt.Errorf("the policy engine cannot print its input")
	}
	inputs, err := res.InputsAll(builder, now)
	if err != nil {
		return err
	}
	var doc any
	if grant != "" {
		for _, in := range inputs {
			if in.Grant == grant {
				doc = in.Input
			}
		}
		if doc == nil {
			return fmt.Errorf("--grant %s: no AccessGrant of that namespace and name is in the files", grant)
		}
	} else {
		byGrant := make(map[string]any, len(inputs))
		for _, in := range inputs {
			byGrant[in.Grant] = in.Input
		}
		doc = byGrant
	}
	return writeJSON(out, doc)
}
