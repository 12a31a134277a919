// Package samples embeds the sample resources, so that `portcullis dev` can
// apply them wherever it runs from.
package samples

import (
	"embed"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Files holds the sample manifests, applied in the order of their names.
//
//go:embed [0-9]*.yaml
var Files embed.FS

// TorExits is a Tor exit list for the samples' sign-ins.
//
//go:embed tor-exits.txt
var TorExits []byte

// exceptionDays is how long the sample exception lasts from the day the
// samples are applied: within the 90 days an exception may last.
const exceptionDays = 30

// Refresh moves the sample PolicyExceptions' expiry to 30 days after now
// when the date in the file has passed or lies beyond what an exception
// may last, so that the samples tell the same story whenever they are
// applied.
func Refresh(objs []*unstructured.Unstructured, now time.Time) {
	for _, o := range objs {
		if o.GetKind() != "PolicyException" {
			continue
		}
		raw, _, _ := unstructured.NestedString(o.Object, "spec", "expiresAt")
		at, err := time.Parse(time.RFC3339, raw)
		if err == nil && at.After(now) && at.Sub(now) < (exceptionDays+60)*24*time.Hour {
			continue
		}
		fresh := now.Add(exceptionDays * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		_ = unstructured.SetNestedField(o.Object, fresh, "spec", "expiresAt")
	}
}
