// Package kube holds the cluster plumbing that the controllers and the
// sign-in ingester share: the field indexes of the manager's cache and reads
// that never start from a status older than their user's own last write.
package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	// IndexIdentityFold indexes Contractors by their spec.email and the
	// id of each of their accounts, on any system, with the ASCII letters
	// in lower case (FoldID) and each value once, so the sign-in ingester
	// and the Shared Signals sink find a contractor by an account or an
	// e-mail without a scan. It is coarser than either lookup:
	// ContractorsByAccount and ContractorsByEmail list by it and keep the
	// contractors with the account on that system (as written, where the
	// system's ids are exact) or with that e-mail. One index for both,
	// without the system in its values, holds a contractor's e-mail and
	// the logins equal to it (an identity provider's, often) once: each
	// value costs two small maps in the informer (see Indexes).
	IndexIdentityFold = "spec.identity.fold"
)

// FoldID folds an account id's ASCII letters to lower case, and nothing
// else: the identity providers compare logins so, and a wider folding
// (Unicode's, where the Kelvin sign is a k) would match ids they keep
// apart.
func FoldID(id string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, id)
}

// Index is one field index: the kind it indexes, the field name and the
// function that extracts the values.
type Index struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
}

// SetupIndexes registers every field index that the reconcilers use.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	for _, ix := range Indexes() {
		if err := mgr.GetFieldIndexer().IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.Object, ix.Field, err)
		}
	}
	return nil
}

// Indexes are the field indexes SetupIndexes registers, for a fake
// client's builder too.
//
// Each costs memory in the informer of its kind: controller-runtime
// stores every value twice, cluster-wide and under the object's
// namespace, and client-go keeps a set (a Go map) of object keys per
// value. A value shared by many objects (a system's name) costs little
// per object; a value unique to one (an account, an e-mail) costs two
// small maps of its own. So the Contractor indexes hold what the lookups
// need and no more: the systems (for the watches of ConnectedSystems)
// and, in one index, the e-mail and the account ids, case folded.
func Indexes() []Index {
	return []Index{
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
		{&accessv1alpha1.Contractor{}, IndexIdentityFold, contractorIdentities},
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

// contractorIdentities are a contractor's e-mail and account ids, case
// folded, each once.
func contractorIdentities(o client.Object) []string {
	c := o.(*accessv1alpha1.Contractor)
	ids := make([]string, 0, 1+len(c.Spec.Accounts))
	add := func(id string) {
		if id = FoldID(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	add(c.Spec.Email)
	for _, a := range c.Spec.Accounts {
		add(a.ID)
	}
	return ids
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
