package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// referrers returns an event handler that enqueues the objects of list's
// kind whose field index equals the changed object's name. With sameNamespace
// it looks only in the changed object's namespace; for cluster-scoped
// referents it looks everywhere.
func referrers(c client.Client, list client.ObjectList, field string, sameNamespace bool) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{field: obj.GetName()}}
		if sameNamespace {
			opts = append(opts, client.InNamespace(obj.GetNamespace()))
		}
		return listRequests(ctx, c, list, opts...)
	})
}

// listRequests lists objects and returns a reconcile request for each.
func listRequests(ctx context.Context, c client.Client, list client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	list = list.DeepCopyObject().(client.ObjectList)
	if err := c.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing referrers failed", "kind", fmt.Sprintf("%T", list))
		return nil
	}
	var requests []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		obj := o.(client.Object)
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{
			Namespace: obj.GetNamespace(), Name: obj.GetName(),
		}})
		return nil
	})
	return requests
}

// existenceChanged passes only creations and deletions: the watches on
// referents care whether the referent exists, not about its updates.
func existenceChanged() builder.Predicates {
	return builder.WithPredicates(predicate.Funcs{
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
}
