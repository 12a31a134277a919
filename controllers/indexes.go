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

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Field indexes of the manager's cache. Reconcilers list by them instead of
// scanning, and watches map a changed object to the objects that refer to it.
const (
	// IndexContractor indexes AccessGrants, Findings and PolicyExceptions by
	// the name of the Contractor they refer to.
	IndexContractor = "spec.contractorRef.name"
	// IndexSystem indexes AccessGrants by ConnectedSystem name, and
	// Contractors by the systems of their accounts.
	IndexSystem = "spec.systemRef.name"
	// IndexGrant indexes PolicyExceptions by the AccessGrant they name.
	IndexGrant = "spec.grantRef.name"
	// IndexPolicy indexes PolicyExceptions by the AccessPolicy they name.
	IndexPolicy = "spec.policy"
	// IndexConfigMap indexes AccessPolicies by "namespace/name" of the
	// ConfigMap that holds their source.
	IndexConfigMap = "spec.regoFrom"
	// IndexAccount indexes Contractors by "system/id" of each of their
	// accounts, so the sign-in ingester finds an account's owner without
	// a scan.
	IndexAccount = "spec.accounts"
)

// AccountKey is the IndexAccount value of an account on a system.
func AccountKey(system, id string) string { return system + "/" + id }

type indexSpec struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

// SetupIndexes registers every field index that the reconcilers use.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	for _, ix := range indexSpecs() {
		if err := mgr.GetFieldIndexer().IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}

func indexSpecs() []indexSpec {
	return []indexSpec{
		{&accessv1alpha1.AccessGrant{}, IndexContractor, func(o client.Object) []string {
			return []string{o.(*accessv1alpha1.AccessGrant).Spec.ContractorRef.Name}
		}},
		{&accessv1alpha1.AccessGrant{}, IndexSystem, func(o client.Object) []string {
			return []string{o.(*accessv1alpha1.AccessGrant).Spec.SystemRef.Name}
		}},
		{&accessv1alpha1.Finding{}, IndexContractor, func(o client.Object) []string {
			return []string{o.(*accessv1alpha1.Finding).Spec.ContractorRef.Name}
		}},
		{&accessv1alpha1.Contractor{}, IndexSystem, contractorSystems},
		{&accessv1alpha1.Contractor{}, IndexAccount, contractorAccounts},
		{&accessv1alpha1.PolicyException{}, IndexContractor, exceptionContractor},
		{&accessv1alpha1.PolicyException{}, IndexGrant, exceptionGrant},
		{&accessv1alpha1.PolicyException{}, IndexPolicy, func(o client.Object) []string {
			return []string{o.(*accessv1alpha1.PolicyException).Spec.Policy}
		}},
		{&accessv1alpha1.AccessPolicy{}, IndexConfigMap, func(o client.Object) []string {
			ref := o.(*accessv1alpha1.AccessPolicy).Spec.RegoFrom
			if ref == nil {
				return nil
			}
			return []string{ref.Namespace + "/" + ref.Name}
		}},
	}
}

func contractorSystems(o client.Object) []string {
	accounts := o.(*accessv1alpha1.Contractor).Spec.Accounts
	systems := make([]string, 0, len(accounts))
	for _, a := range accounts {
		systems = append(systems, a.System)
	}
	return systems
}

func contractorAccounts(o client.Object) []string {
	accounts := o.(*accessv1alpha1.Contractor).Spec.Accounts
	keys := make([]string, 0, len(accounts))
	for _, a := range accounts {
		keys = append(keys, AccountKey(a.System, a.ID))
	}
	return keys
}

func exceptionContractor(o client.Object) []string {
	if ref := o.(*accessv1alpha1.PolicyException).Spec.ContractorRef; ref != nil {
		return []string{ref.Name}
	}
	return nil
}

func exceptionGrant(o client.Object) []string {
	if ref := o.(*accessv1alpha1.PolicyException).Spec.GrantRef; ref != nil {
		return []string{ref.Name}
	}
	return nil
}

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
