package kubernetes

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestGrantOfMapsAManagedBindingToItsGrant(t *testing.T) {
	c := &Connector{}
	if got := len(c.WatchedObjects()); got != 2 {
		t.Fatalf("WatchedObjects = %d kinds, want RoleBinding and ClusterRoleBinding", got)
	}
	managed := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
		LabelGrantNamespace: "contractors", LabelGrantName: "sam-edit"}}}
	if key, ok := c.GrantOf(managed); !ok || key != (types.NamespacedName{Namespace: "contractors", Name: "sam-edit"}) {
		t.Errorf("GrantOf(managed) = %v, %v", key, ok)
	}
	for name, labels := range map[string]map[string]string{
		"no labels":        nil,
		"a name only":      {LabelGrantName: "sam-edit"},
		"a namespace only": {LabelGrantNamespace: "contractors"},
		"someone else's":   {"app": "other"},
	} {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
		if key, ok := c.GrantOf(b); ok {
			t.Errorf("%s: GrantOf = %v, want none", name, key)
		}
	}
}
