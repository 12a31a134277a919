package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// inUseRecheck is how often a deleted system that grants still hold is
// looked at again, besides the grants' own events.
const inUseRecheck = 30 * time.Second

// reconcileDelete lets a deleted ConnectedSystem go once no grant holds
// access through it. Until then it stays, Ready=False with reason InUse,
// and its grants are still enforced: a revocation on it is applied, and a
// deleted grant's entitlement is removed with its credentials. It grants
// nothing new (see gather).
func (r *ConnectedSystemReconciler) reconcileDelete(ctx context.Context, system *accessv1alpha1.ConnectedSystem) (ctrl.Result, error) {
	finalizer, owned := r.Shard.SystemFinalizer(), r.Shard.Owns(system)
	// The owner of a sharded system also lets go of the finalizer a
	// manager kept before the shards: its grants are the shards' now.
	legacy := owned && finalizer != FinalizerGrants && controllerutil.ContainsFinalizer(system, FinalizerGrants)
	if !controllerutil.ContainsFinalizer(system, finalizer) && !legacy {
		return ctrl.Result{}, nil
	}
	holders, err := r.holders(ctx, system.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(holders) == 0 && r.Shard.sharded() && lastGrantsFinalizer(system, finalizer) {
		// The last shard to let go looks in every namespace: a shard that
		// could not add its finalizer (the system was deleted before it
		// started, or a namespace moved to it) holds access through its
		// grants all the same.
		if holders, err = r.holdersAnywhere(ctx, system.Name); err != nil {
			return ctrl.Result{}, err
		}
	}
	if len(holders) == 0 {
		// With a lock: shards add and remove their own finalizers on one
		// system, and a merge patch replaces the whole list.
		patch := client.MergeFromWithOptions(system.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(system, finalizer)
		if legacy {
			controllerutil.RemoveFinalizer(system, FinalizerGrants)
		}
		return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, system, patch))
	}
	if !owned {
		return ctrl.Result{RequeueAfter: inUseRecheck}, nil
	}
	before := system.DeepCopy()
	shown := holders[:min(len(holders), 5)]
	msg := fmt.Sprintf("deleted, and waiting: %d grant(s) still hold access through this system (%s); "+
		"delete them and the system goes once their entitlements are removed", len(holders), strings.Join(shown, ", "))
	setConditions(&system.Status.Conditions, metav1.NewTime(r.Clock.Now()),
		condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonInUse, msg, system.Generation))
	if err := patchStatus(ctx, r.Client, before, system); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: inUseRecheck}, nil
}

// holders names the grants that hold access through the system: those
// whose last applied state there is Active or Quarantined (dry runs
// applied nothing).
func (r *ConnectedSystemReconciler) holders(ctx context.Context, system string) ([]string, error) {
	list := &accessv1alpha1.AccessGrantList{}
	if err := r.List(ctx, list, client.MatchingFields{kube.IndexSystem: system}); err != nil {
		return nil, fmt.Errorf("listing the system's grants: %w", err)
	}
	var out []string
	for i := range list.Items {
		if holdsAccess(&list.Items[i]) {
			out = append(out, list.Items[i].Namespace+"/"+list.Items[i].Name)
		}
	}
	return out, nil
}

// lastGrantsFinalizer reports whether the system keeps no grants
// finalizer but this manager's (and the legacy one of a manager that was
// not sharded, which this one removes with its own).
func lastGrantsFinalizer(system *accessv1alpha1.ConnectedSystem, own string) bool {
	for _, f := range system.Finalizers {
		if f != own && f != FinalizerGrants && strings.HasPrefix(f, FinalizerGrants+"-") {
			return false
		}
	}
	return true
}

// holdersAnywhere is holders in every namespace, read from the API server
// a page at a time: a shard's cache holds its own namespaces only.
func (r *ConnectedSystemReconciler) holdersAnywhere(ctx context.Context, system string) ([]string, error) {
	var out []string
	opts := &client.ListOptions{Limit: holdersPage}
	for {
		list := &accessv1alpha1.AccessGrantList{}
		if err := r.APIReader.List(ctx, list, opts); err != nil {
			return nil, fmt.Errorf("listing the grants of every namespace: %w", err)
		}
		for i := range list.Items {
			if g := &list.Items[i]; g.Spec.SystemRef.Name == system && holdsAccess(g) {
				out = append(out, g.Namespace+"/"+g.Name)
			}
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return out, nil
		}
	}
}

// holdersPage is how many grants one read of holdersAnywhere holds.
const holdersPage = 500

// holdsAccess reports whether a grant's entitlement is, as far as the
// controller applied it, present in its system.
func holdsAccess(g *accessv1alpha1.AccessGrant) bool {
	enf := g.Status.Enforcement
	return enf != nil && !enf.DryRun &&
		(enf.State == accessv1alpha1.GrantActive || enf.State == accessv1alpha1.GrantQuarantined)
}

// grantSystem maps a grant to its ConnectedSystem while that system is
// being deleted: only then does a grant's change matter to it.
func grantSystem(c client.Client) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		g, ok := obj.(*accessv1alpha1.AccessGrant)
		if !ok {
			return nil
		}
		key := types.NamespacedName{Name: g.Spec.SystemRef.Name}
		system := &accessv1alpha1.ConnectedSystem{}
		if err := c.Get(ctx, key, system); err != nil || system.DeletionTimestamp.IsZero() {
			return nil
		}
		return []reconcile.Request{{NamespacedName: key}}
	})
}
