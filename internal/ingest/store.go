// Package ingest serves the sign-in ingestion endpoint, POST /v1/signins,
// from the manager, and keeps the evidence in Kubernetes: the contractors'
// sign-in summaries in their status and the Findings.
package ingest

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=findings,verbs=create;update
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=contractors/status,verbs=patch

// Store keeps the evidence in the API server. It reads through the
// manager's cache where a lagging read is harmless (account lookups,
// counting, a first look at a Finding) and from the API server itself
// where it is not (a contractor's sign-ins, a Finding after a lost race).
type Store struct {
	// Client is the manager's cached client; it needs the IndexAccount and
	// IndexContractor field indexes.
	Client client.Client
	// Reader reads from the API server directly.
	Reader client.Reader
}

var _ signals.Store = (*Store)(nil)

// ContractorsByAccount lists the contractors with the account, by index.
func (s *Store) ContractorsByAccount(ctx context.Context, system, id string) ([]types.NamespacedName, error) {
	var list accessv1alpha1.ContractorList
	if err := s.Client.List(ctx, &list, client.MatchingFields{controllers.IndexAccount: controllers.AccountKey(system, id)}); err != nil {
		return nil, err
	}
	keys := make([]types.NamespacedName, 0, len(list.Items))
	for _, c := range list.Items {
		keys = append(keys, types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
	}
	return keys, nil
}

// Contractor reads a contractor from the API server.
func (s *Store) Contractor(ctx context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, error) {
	c := &accessv1alpha1.Contractor{}
	if err := s.Reader.Get(ctx, key, c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return c, nil
}

// SaveSignIns patches the contractor's status.signIns, failing with a
// Conflict when the contractor changed since c was read.
func (s *Store) SaveSignIns(ctx context.Context, c *accessv1alpha1.Contractor, summary *accessv1alpha1.SignInSummary) error {
	patch := client.MergeFromWithOptions(c.DeepCopy(), client.MergeFromWithOptimisticLock{})
	c.Status.SignIns = summary
	return s.Client.Status().Patch(ctx, c, patch)
}

// Finding reads a Finding from the cache, or from the API server when fresh.
func (s *Store) Finding(ctx context.Context, key types.NamespacedName, fresh bool) (*accessv1alpha1.Finding, error) {
	var reader client.Reader = s.Client
	if fresh {
		reader = s.Reader
	}
	f := &accessv1alpha1.Finding{}
	if err := reader.Get(ctx, key, f); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

// CountFindings counts the ingester's Findings of a contractor, overflow
// Findings aside.
func (s *Store) CountFindings(ctx context.Context, contractor types.NamespacedName) (int, error) {
	var list accessv1alpha1.FindingList
	if err := s.Client.List(ctx, &list, client.InNamespace(contractor.Namespace),
		client.MatchingFields{controllers.IndexContractor: contractor.Name},
		client.MatchingLabels{signals.LabelSource: signals.SourceValue}); err != nil {
		return 0, err
	}
	n := 0
	for _, f := range list.Items {
		if f.Spec.Key != signals.OverflowKey {
			n++
		}
	}
	return n, nil
}

// CreateFinding creates a Finding.
func (s *Store) CreateFinding(ctx context.Context, f *accessv1alpha1.Finding) error {
	return s.Client.Create(ctx, f)
}

// UpdateFinding updates a Finding's spec.
func (s *Store) UpdateFinding(ctx context.Context, f *accessv1alpha1.Finding) error {
	return s.Client.Update(ctx, f)
}

// Contractors lists every contractor from the cache.
func (s *Store) Contractors(ctx context.Context) ([]accessv1alpha1.Contractor, error) {
	var list accessv1alpha1.ContractorList
	if err := s.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}
