package kube

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// ContractorsByAccount lists the contractors with an account of id on
// system, from a reader with the IndexAccountFold index (the manager's
// cache). The index holds the ids case folded; unless ignoreCase (the
// system's ids ignore case, SystemType.AccountsIgnoreCase) it keeps only
// the contractors that list id exactly, so that on such a system "Bob"
// never matches "bob".
func ContractorsByAccount(ctx context.Context, r client.Reader, system, id string, ignoreCase bool) ([]types.NamespacedName, error) {
	var list accessv1alpha1.ContractorList
	if err := r.List(ctx, &list, client.MatchingFields{IndexAccountFold: AccountFoldKey(system, id)}); err != nil {
		return nil, fmt.Errorf("listing contractors by %s: %w", IndexAccountFold, err)
	}
	keys := make([]types.NamespacedName, 0, len(list.Items))
	for i := range list.Items {
		c := &list.Items[i]
		if ignoreCase || hasAccount(c, system, id) {
			keys = append(keys, types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
		}
	}
	return keys, nil
}

// hasAccount reports whether c lists the account of id on system, in
// that case.
func hasAccount(c *accessv1alpha1.Contractor, system, id string) bool {
	return slices.ContainsFunc(c.Spec.Accounts, func(a accessv1alpha1.Account) bool {
		return a.System == system && a.ID == id
	})
}
