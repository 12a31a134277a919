package connectors

import (
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// CredentialNeeds is implemented by a connector whose systems need a
// credentials Secret: MissingCredentials lists the keys that the system's
// settings need and the Secret's data lacks, so the ConnectedSystem says
// what to add before any connection is tried.
type CredentialNeeds interface {
	MissingCredentials(system *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string
}

// MissingCredentials asks c, when it has credential needs; none otherwise.
func MissingCredentials(c Connector, system *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	if n, ok := c.(CredentialNeeds); ok {
		return n.MissingCredentials(system, data)
	}
	return nil
}

// Missing lists the keys of need that data has no value for.
func Missing(data map[string][]byte, need ...string) []string {
	return slices.DeleteFunc(slices.Clone(need), func(k string) bool { return len(data[k]) > 0 })
}

// Watcher is implemented by a connector whose entitlements are objects of
// the cluster the manager runs in: the grant controller watches those kinds
// and, through GrantOf, wakes the grant that a changed object belongs to, so
// that drift is repaired at once rather than at the next sweep.
type Watcher interface {
	// WatchedObjects are the kinds to watch, one empty object each.
	WatchedObjects() []client.Object
	// GrantOf names the AccessGrant that obj was made for, if any.
	GrantOf(obj client.Object) (types.NamespacedName, bool)
}
