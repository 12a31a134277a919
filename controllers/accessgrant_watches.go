package controllers

import (
	"context"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// lowPriority is the priority of the sweep after a policy change; events
// about one grant (a finding, drift) come first.
const lowPriority = -100

// grantChanged wakes the reconciler for spec and annotation changes
// (a guard release) but not for its own status writes.
func grantChanged() builder.Predicates {
	return builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))
}

// generationOrExistence passes creations, deletions and spec changes.
func generationOrExistence() builder.Predicates {
	return builder.WithPredicates(predicate.GenerationChangedPredicate{})
}

// updatesWhere passes the updates of a T for which changed holds, and its
// deletions when deletes is set; never creations.
func updatesWhere[T client.Object](deletes bool, changed func(oldObj, newObj T) bool) builder.Predicates {
	return builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return deletes },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldObj, ok1 := e.ObjectOld.(T)
			newObj, ok2 := e.ObjectNew.(T)
			return ok1 && ok2 && changed(oldObj, newObj)
		},
	})
}

// contractorInputChanged passes a contractor's spec changes and changes of
// its sign-in summary, which policies read; not its other status fields.
func contractorInputChanged() builder.Predicates {
	return builder.WithPredicates(predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldC, ok1 := e.ObjectOld.(*accessv1alpha1.Contractor)
			newC, ok2 := e.ObjectNew.(*accessv1alpha1.Contractor)
			if !ok1 || !ok2 {
				return true
			}
			return oldC.Generation != newC.Generation ||
				!equality.Semantic.DeepEqual(oldC.Labels, newC.Labels) ||
				!equality.Semantic.DeepEqual(oldC.Status.SignIns, newC.Status.SignIns)
		},
	})
}

// exceptionGrants maps a PolicyException to the grants it may exempt.
func exceptionGrants(c client.Client) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		e, ok := obj.(*accessv1alpha1.PolicyException)
		if !ok {
			return nil
		}
		if e.Spec.GrantRef != nil {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: e.Namespace, Name: e.Spec.GrantRef.Name}}}
		}
		if e.Spec.ContractorRef != nil {
			return listRequests(ctx, c, &accessv1alpha1.AccessGrantList{},
				client.InNamespace(e.Namespace), client.MatchingFields{kube.IndexContractor: e.Spec.ContractorRef.Name})
		}
		return nil
	})
}

// policyChanges enqueues every grant, at low priority, whenever the
// engine's policy set changed.
func policyChanges(sync *PolicySync, c client.Client) source.Source {
	return source.Channel(sync.Changes(), handler.Funcs{
		GenericFunc: func(ctx context.Context, _ event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			requests := listRequests(ctx, c, &accessv1alpha1.AccessGrantList{})
			if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
				pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(lowPriority)}, requests...)
				return
			}
			for _, r := range requests {
				q.Add(r)
			}
		},
	})
}

// watchConnectors adds a watch for every kind that a connector of the
// registry makes in this cluster (connectors.Watcher), mapping a changed
// object back to its grant, in the order of the system types.
func watchConnectors(b *builder.TypedBuilder[reconcile.Request], registry connectors.Registry) *builder.TypedBuilder[reconcile.Request] {
	for _, t := range slices.Sorted(maps.Keys(registry)) {
		w, ok := registry[t].(connectors.Watcher)
		if !ok {
			continue
		}
		for _, obj := range w.WatchedObjects() {
			b = b.Watches(obj, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
				if key, ok := w.GrantOf(obj); ok {
					return []reconcile.Request{{NamespacedName: key}}
				}
				return nil
			}))
		}
	}
	return b
}
