package manager

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
)

// CacheOptions limit the cache to the RBAC bindings Portcullis manages, so
// it does not hold every binding of the cluster. A shard's cache holds the
// objects of its namespaces only (namespaces); the RoleBindings it manages
// and ConfigMaps' metadata stay cluster-wide, since a grant may bind in any
// namespace its system allows and a policy's source may live in any.
func CacheOptions(namespaces ...string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{k8sconnector.LabelManagedBy: k8sconnector.ManagedByValue})
	bindings := cache.ByObject{Label: managed}
	opts := cache.Options{
		// No reconcile reads managedFields, which are often the largest
		// part of a small object: the cache keeps objects without them.
		// (An Update of a cached object leaves the server's as they are.)
		DefaultTransform: cache.TransformStripManagedFields(),
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
