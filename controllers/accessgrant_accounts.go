package controllers

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
)

// Login, activation and locks belong to a contractor's account on a
// system, not to one grant: the account follows the most restrictive state
// over all the contractor's grants there (connectors.Target.AccountState).
// The grants of one account are reconciled one at a time, each reading the
// others' statuses no older than this process last wrote them, so that no
// grant undoes what a sibling applied a moment before.

// accountLocks serialises the reconciles of one account's grants.
type accountLocks struct {
	mu    sync.Mutex
	locks map[string]*accountLock
}

type accountLock struct {
	sync.Mutex
	refs int
}

// lock waits for the account of g and returns its unlock.
func (a *accountLocks) lock(g *accessv1alpha1.AccessGrant) (unlock func()) {
	key := g.Namespace + "/" + g.Spec.ContractorRef.Name + "/" + g.Spec.SystemRef.Name
	a.mu.Lock()
	if a.locks == nil {
		a.locks = map[string]*accountLock{}
	}
	l := a.locks[key]
	if l == nil {
		l = &accountLock{}
		a.locks[key] = l
	}
	l.refs++
	a.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		a.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(a.locks, key)
		}
		a.mu.Unlock()
	}
}

// siblingStates returns the states that the contractor's other grants on
// the same system hold on account: what each last applied, fresh, and
// nothing for a dry run, which applied nothing, or for a grant applied to
// another account (the contractor's former one, or its new one). same are
// those of them for the same entitlement as g, which share its membership
// or role (connectors.Target.SameEntitlement), leaving out grants being
// deleted: their entitlement is going, and two grants deleted together
// must not each keep it for the other.
func (r *AccessGrantReconciler) siblingStates(ctx context.Context, g *accessv1alpha1.AccessGrant, account string) (all, same []accessv1alpha1.GrantState, err error) {
	list := &accessv1alpha1.AccessGrantList{}
	if err := r.List(ctx, list, client.InNamespace(g.Namespace),
		client.MatchingFields{kube.IndexContractor: g.Spec.ContractorRef.Name}); err != nil {
		return nil, nil, fmt.Errorf("listing the contractor's grants: %w", err)
	}
	for i := range list.Items {
		sib := &list.Items[i]
		if sib.Name == g.Name || sib.Spec.SystemRef.Name != g.Spec.SystemRef.Name {
			continue
		}
		if err := r.fresh.Get(ctx, client.ObjectKeyFromObject(sib), sib); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("reading grant %s: %w", sib.Name, err)
		}
		enf := sib.Status.Enforcement
		if enf == nil || enf.DryRun || (enf.Account != "" && enf.Account != account) {
			continue
		}
		all = append(all, enf.State)
		if sib.Spec.Entitlement == g.Spec.Entitlement && sib.DeletionTimestamp == nil {
			same = append(same, enf.State)
		}
	}
	return all, same, nil
}

// siblings enqueues the contractor's other grants on the same system when
// what a grant holds changes or the grant goes: their account state may
// follow.
func siblings(c client.Client) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		g, ok := obj.(*accessv1alpha1.AccessGrant)
		if !ok {
			return nil
		}
		list := &accessv1alpha1.AccessGrantList{}
		if err := c.List(ctx, list, client.InNamespace(g.Namespace),
			client.MatchingFields{kube.IndexContractor: g.Spec.ContractorRef.Name}); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range list.Items {
			sib := &list.Items[i]
			if sib.Name != g.Name && sib.Spec.SystemRef.Name == g.Spec.SystemRef.Name {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: sib.Namespace, Name: sib.Name}})
			}
		}
		return out
	})
}

// heldStateChanged passes a grant's deletion and changes of the state it
// holds in its system.
func heldStateChanged() builder.Predicates {
	return updatesWhere(true, func(oldG, newG *accessv1alpha1.AccessGrant) bool {
		return appliedState(oldG) != appliedState(newG) || newG.DeletionTimestamp != nil && oldG.DeletionTimestamp == nil
	})
}
