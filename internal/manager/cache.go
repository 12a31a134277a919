package manager

import (
	"unique"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
)

// lastApplied is the annotation in which kubectl apply (and tools that
// apply the same way, such as Argo CD by default) keeps a copy of the
// object as last applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// stripUnread readies an object for the cache. It drops what no reconcile
// reads and what is often the largest part of a small object: its
// managedFields, and on Contractors and AccessGrants, the kinds whose
// numbers grow with the people, kubectl's copy of the applied object,
// which doubles their spec. The manager only patches those two kinds, and
// a patch computed between two cached copies leaves the server's
// annotation as it is; an Update of a cached object would drop it, which
// is why the kinds the manager updates keep it. Objects cached as metadata
// alone (grants counted for the guard's budget, ConfigMaps, namespaces)
// lose it too: the manager never writes one back. (An Update leaves the
// server's managedFields as they are.) And it compacts a contractor's
// sign-ins (compactSignIns).
func stripUnread(obj any) (any, error) {
	switch o := obj.(type) {
	case *accessv1alpha1.Contractor:
		delete(o.Annotations, lastApplied)
		compactSignIns(o.Status.SignIns)
	case *accessv1alpha1.AccessGrant:
		delete(o.Annotations, lastApplied)
	case *metav1.PartialObjectMetadata:
		delete(o.Annotations, lastApplied)
	}
	return cache.TransformStripManagedFields()(obj)
}

// CacheOptions limit the cache to the RBAC bindings Portcullis manages, so
// it does not hold every binding of the cluster. A shard's cache holds the
// objects of its namespaces only (namespaces); the RoleBindings it manages
// and ConfigMaps' metadata stay cluster-wide, since a grant may bind in any
// namespace its system allows and a policy's source may live in any.
func CacheOptions(namespaces ...string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{k8sconnector.LabelManagedBy: k8sconnector.ManagedByValue})
	bindings := cache.ByObject{Label: managed}
	opts := cache.Options{
		DefaultTransform: stripUnread,
	}
	// One entry per kind: the map is keyed by pointer, and of two entries
	// for one kind the cache would take either.
	var configMaps *cache.ByObject
	if len(namespaces) > 0 {
		all := map[string]cache.Config{cache.AllNamespaces: {}}
		opts.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
		bindings.Namespaces = all
		configMaps = &cache.ByObject{Namespaces: all}
	}
	opts.ByObject = map[client.Object]cache.ByObject{
		&rbacv1.RoleBinding{}:        bindings,
		&rbacv1.ClusterRoleBinding{}: {Label: managed},
	}
	if configMaps != nil {
		opts.ByObject[&corev1.ConfigMap{}] = *configMaps
	}
	return opts
}

// compactSignIns shrinks a contractor's recent sign-ins, the largest part
// of a contractor that signs in, to what they hold: the decoder leaves the
// lists with room to grow (an exact copy has none), and a contractor's
// sign-ins repeat the same few addresses, devices, countries, time zones
// and locales, which are kept once. The values are the same; only their
// memory is shared.
func compactSignIns(s *accessv1alpha1.SignInSummary) {
	if s == nil {
		return
	}
	s.Recent, s.Countries = exactCopy(s.Recent), exactCopy(s.Countries)
	for i := range s.Recent {
		r := &s.Recent[i]
		r.IP, r.DeviceID = intern(r.IP), intern(r.DeviceID)
		r.Country = intern(r.Country)
		r.Timezone, r.Locale = intern(r.Timezone), intern(r.Locale)
	}
}

// exactCopy copies s into a slice of its length, no more.
func exactCopy[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// intern returns the process's one copy of s (see package unique).
func intern[S ~string](s S) S {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}
