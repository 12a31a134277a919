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
// system, from a reader with the IndexIdentityFold index (the manager's
// cache). With ignoreCase (the system's ids ignore case,
// SystemType.AccountsIgnoreCase) the account matches in any ASCII case
// (FoldID); else only as written, so that "Bob" never matches "bob".
func ContractorsByAccount(ctx context.Context, r client.Reader, system, id string, ignoreCase bool) ([]types.NamespacedName, error) {
	return byIdentity(ctx, r, id, func(c *accessv1alpha1.Contractor) bool {
		return slices.ContainsFunc(c.Spec.Accounts, func(a accessv1alpha1.Account) bool {
			return a.System == system && (a.ID == id || ignoreCase && FoldID(a.ID) == FoldID(id))
		})
	})
}

// ContractorsByEmail lists the contractors whose spec.email is email in
// any ASCII case (FoldID), from a reader with the IndexIdentityFold index.
func ContractorsByEmail(ctx context.Context, r client.Reader, email string) ([]types.NamespacedName, error) {
	return byIdentity(ctx, r, email, func(c *accessv1alpha1.Contractor) bool {
		return FoldID(c.Spec.Email) == FoldID(email)
	})
}

// byIdentity lists the contractors that IndexIdentityFold holds under id
// and keep says are meant.
func byIdentity(ctx context.Context, r client.Reader, id string, keep func(*accessv1alpha1.Contractor) bool) ([]types.NamespacedName, error) {
	var list accessv1alpha1.ContractorList
	if err := r.List(ctx, &list, client.MatchingFields{IndexIdentityFold: FoldID(id)}); err != nil {
		return nil, fmt.Errorf("listing contractors by %s: %w", IndexIdentityFold, err)
	}
	keys := make([]types.NamespacedName, 0, len(list.Items))
	for i := range list.Items {
		if c := &list.Items[i]; keep(c) {
			keys = append(keys, types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
		}
	}
	return keys, nil
}
