// Package kubernetes enforces grants as RoleBindings and ClusterRoleBindings
// in the cluster Portcullis runs in.
package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// Labels on every binding Portcullis manages. The manager's cache holds only
// bindings with LabelManagedBy, and changes to them map back to their grant.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedByValue      = "portcullis"
	LabelGrantNamespace = "access.portcullis.dev/grant-namespace"
	LabelGrantName      = "access.portcullis.dev/grant-name"
	LabelState          = "access.portcullis.dev/state"
)

// DefaultQuarantineRole is bound instead of the entitlement while quarantined.
const DefaultQuarantineRole = "view"

// Connector manages bindings through a client whose reads come from the
// manager's cache and an uncached reader for bindings the cache cannot see.
type Connector struct {
	Client    client.Client
	APIReader client.Reader
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Watcher   = (*Connector)(nil)
)

// WatchedObjects are the bindings the connector makes.
func (c *Connector) WatchedObjects() []client.Object {
	return []client.Object{&rbacv1.RoleBinding{}, &rbacv1.ClusterRoleBinding{}}
}

// GrantOf names the grant of a binding the connector made, by its labels.
func (c *Connector) GrantOf(obj client.Object) (types.NamespacedName, bool) {
	labels := obj.GetLabels()
	ns, name := labels[LabelGrantNamespace], labels[LabelGrantName]
	return types.NamespacedName{Namespace: ns, Name: name}, ns != "" && name != ""
}

// ObservesState is true: every Ensure compares the binding with the desired one.
func (c *Connector) ObservesState() bool { return true }

// BindingName is the deterministic name of a grant's binding.
func BindingName(g *accessv1alpha1.AccessGrant) string {
	name := "portcullis-" + g.Namespace + "-" + g.Name
	if len(name) <= 200 {
		return name
	}
	sum := sha256.Sum256([]byte(g.Namespace + "/" + g.Name))
	return "portcullis-" + hex.EncodeToString(sum[:])[:32]
}

// Ensure creates, updates, replaces or deletes the grant's binding.
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	// A removal looks past the cache too: a binding that lost its labels
	// is invisible to the cache but still grants access.
	current, err := c.current(ctx, t.Grant, connectors.Removes(state))
	if err != nil {
		return connectors.Change{}, err
	}
	if connectors.Removes(state) {
		return c.remove(ctx, current)
	}
	desired, err := desiredBinding(t, state)
	if err != nil {
		return connectors.Change{}, err
	}
	change, err := c.apply(ctx, current, desired)
	if current == nil && apierrors.IsAlreadyExists(err) {
		// The cache did not know the binding: take it over.
		if current, err = c.current(ctx, t.Grant, true); err != nil {
			return connectors.Change{}, err
		}
		desired.obj.SetResourceVersion("")
		return c.apply(ctx, current, desired)
	}
	return change, err
}

// binding is a RoleBinding or a ClusterRoleBinding, reduced to what matters.
type binding struct {
	obj      client.Object
	roleRef  rbacv1.RoleRef
	subjects []rbacv1.Subject
}

func (c *Connector) current(ctx context.Context, g *accessv1alpha1.AccessGrant, live bool) (*binding, error) {
	name := BindingName(g)
	if ns := g.Spec.Entitlement.Namespace; ns != "" {
		rb := &rbacv1.RoleBinding{}
		if err := c.get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rb, live); err != nil || rb.Name == "" {
			return nil, err
		}
		return &binding{obj: rb, roleRef: rb.RoleRef, subjects: rb.Subjects}, nil
	}
	crb := &rbacv1.ClusterRoleBinding{}
	if err := c.get(ctx, client.ObjectKey{Name: name}, crb, live); err != nil || crb.Name == "" {
		return nil, err
	}
	return &binding{obj: crb, roleRef: crb.RoleRef, subjects: crb.Subjects}, nil
}

// get reads a binding from the cache and, with live, from the API server
// when the cache does not have it.
func (c *Connector) get(ctx context.Context, key client.ObjectKey, obj client.Object, live bool) error {
	err := c.Client.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && live {
		err = c.APIReader.Get(ctx, key, obj)
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading binding %s: %w", key, err)
	}
	return nil
}

func desiredBinding(t connectors.Target, state accessv1alpha1.GrantState) (*binding, error) {
	g, e := t.Grant, t.Grant.Spec.Entitlement
	if t.Account == "" {
		return nil, fmt.Errorf("contractor %s has no account on system %s", t.Contractor.Name, t.System.Name)
	}
	if strings.HasPrefix(t.Account, "system:") {
		// A User subject named system:serviceaccount:ns:name is that
		// service account; system:anonymous is everyone unauthenticated.
		return nil, fmt.Errorf("the account %q of contractor %s is a Kubernetes system identity (system:...), which no grant binds: give the contractor their own user name",
			t.Account, t.Contractor.Name)
	}
	if e.Kind == "" {
		// The admission policy checked the requester's right to bind only
		// for grants that say which kind of role they name.
		return nil, errors.New("a kubernetes grant needs spec.entitlement.kind: Role or ClusterRole")
	}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: string(e.Kind), Name: e.Name}
	if state == accessv1alpha1.GrantQuarantined {
		roleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: quarantineRole(t.System)}
	}
	if e.Namespace == "" && roleRef.Kind != "ClusterRole" {
		return nil, errors.New("a Role entitlement needs spec.entitlement.namespace")
	}
	meta := metav1.ObjectMeta{
		Name:      BindingName(g),
		Namespace: e.Namespace,
		Labels: map[string]string{
			LabelManagedBy:      ManagedByValue,
			LabelGrantNamespace: g.Namespace,
			LabelGrantName:      g.Name,
			LabelState:          string(state),
		},
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: t.Account}}
	if e.Namespace != "" {
		return &binding{obj: &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: roleRef, Subjects: subjects}, roleRef: roleRef, subjects: subjects}, nil
	}
	return &binding{obj: &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: roleRef, Subjects: subjects}, roleRef: roleRef, subjects: subjects}, nil
}

func quarantineRole(s *accessv1alpha1.ConnectedSystem) string {
	if s.Spec.Kubernetes != nil && s.Spec.Kubernetes.QuarantineClusterRole != "" {
		return s.Spec.Kubernetes.QuarantineClusterRole
	}
	return DefaultQuarantineRole
}

func (c *Connector) remove(ctx context.Context, current *binding) (connectors.Change, error) {
	if current == nil {
		return connectors.Change{}, nil
	}
	if err := c.Client.Delete(ctx, current.obj); err != nil && !apierrors.IsNotFound(err) {
		return connectors.Change{}, fmt.Errorf("deleting binding %s: %w", client.ObjectKeyFromObject(current.obj), err)
	}
	return connectors.Change{Changed: true, Detail: "deleted binding " + describe(current.obj)}, nil
}

// apply makes the binding match desired. roleRef is immutable, so a binding
// to another role is deleted and created anew.
func (c *Connector) apply(ctx context.Context, current, desired *binding) (connectors.Change, error) {
	if current != nil && current.roleRef == desired.roleRef {
		if equality.Semantic.DeepEqual(current.subjects, desired.subjects) && labelsMatch(current.obj, desired.obj) {
			return connectors.Change{}, nil
		}
		desired.obj.SetResourceVersion(current.obj.GetResourceVersion())
		if err := c.Client.Update(ctx, desired.obj); err != nil {
			return connectors.Change{}, fmt.Errorf("updating binding %s: %w", describe(desired.obj), err)
		}
		return connectors.Change{Changed: true, Detail: "updated binding " + describe(desired.obj)}, nil
	}
	if current != nil {
		if err := c.Client.Delete(ctx, current.obj); err != nil && !apierrors.IsNotFound(err) {
			return connectors.Change{}, fmt.Errorf("replacing binding %s: %w", describe(current.obj), err)
		}
	}
	if err := c.Client.Create(ctx, desired.obj); err != nil {
		return connectors.Change{}, fmt.Errorf("creating binding %s: %w", describe(desired.obj), err)
	}
	return connectors.Change{Changed: true, Detail: fmt.Sprintf("bound %s to %s %s", describe(desired.obj), desired.roleRef.Kind, desired.roleRef.Name)}, nil
}

func labelsMatch(current, desired client.Object) bool {
	have := current.GetLabels()
	for k, v := range desired.GetLabels() {
		if have[k] != v {
			return false
		}
	}
	return true
}

func describe(obj client.Object) string {
	kind := "ClusterRoleBinding"
	if _, ok := obj.(*rbacv1.RoleBinding); ok {
		kind = "RoleBinding"
	}
	return kind + " " + client.ObjectKeyFromObject(obj).String()
}

// maxBindChecks bounds the access reviews of one Check.
const maxBindChecks = 64

// Check asks the API server whether the controller may manage bindings and
// bind each role the system allows by name (patterns cannot be checked),
// and its quarantine role: the manager's RBAC lists the roles it may bind.
func (c *Connector) Check(ctx context.Context, s *accessv1alpha1.ConnectedSystem, _ map[string][]byte) error {
	reviews := make([]authorizationv1.ResourceAttributes, 0, 4+maxBindChecks)
	for _, resource := range []string{"rolebindings", "clusterrolebindings"} {
		for _, verb := range []string{"create", "delete"} {
			reviews = append(reviews, authorizationv1.ResourceAttributes{Group: rbacv1.GroupName, Resource: resource, Verb: verb})
		}
	}
	reviews = append(reviews, bindReviews(s)...)
	for _, attrs := range reviews {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
		if err := c.Client.Create(ctx, review); err != nil {
			return fmt.Errorf("asking the API server for permissions: %w", err)
		}
		if review.Status.Allowed {
			continue
		}
		if attrs.Verb == "bind" {
			return fmt.Errorf("the controller may not bind %s %s: add it to the resourceNames of its bind ClusterRole (config/rbac/bind_role.yaml), or stop allowing it",
				attrs.Resource, attrs.Name)
		}
		return fmt.Errorf("the controller may not %s %s: grant it in its ClusterRole", attrs.Verb, attrs.Resource)
	}
	return nil
}

// bindReviews are the bind checks of the roles a system allows by name.
func bindReviews(s *accessv1alpha1.ConnectedSystem) []authorizationv1.ResourceAttributes {
	out := []authorizationv1.ResourceAttributes{{Group: rbacv1.GroupName, Resource: "clusterroles", Verb: "bind", Name: quarantineRole(s)}}
	k := s.Spec.Kubernetes
	if k == nil {
		return out
	}
	for _, name := range k.AllowedClusterRoles {
		if !strings.Contains(name, "*") && len(out) < maxBindChecks {
			out = append(out, authorizationv1.ResourceAttributes{Group: rbacv1.GroupName, Resource: "clusterroles", Verb: "bind", Name: name})
		}
	}
	for _, name := range k.AllowedRoles {
		for _, ns := range k.AllowedNamespaces {
			if !strings.Contains(name+ns, "*") && len(out) < maxBindChecks {
				out = append(out, authorizationv1.ResourceAttributes{Group: rbacv1.GroupName, Resource: "roles", Verb: "bind", Name: name, Namespace: ns})
			}
		}
	}
	return out
}
