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
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=findings,verbs=create;update
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=contractors/status,verbs=patch

// Store keeps the evidence in the API server. It reads through the
// manager's cache, and from the API server itself only where the cache has
// not yet seen the store's own last write to an object, so a batch never
// starts from a contractor's sign-ins older than the ones the last batch
// wrote. What the cache does not hold does not exist for the store: an
// event naming an unknown contractor costs no API request, so a flood of
// made-up names cannot turn into a flood of GETs. A write that loses a
// race to another writer fails with a Conflict and the ingester reads
// again.
type Store struct {
	client      client.Client
	reader      client.Reader
	contractors *kube.FreshReader
	findings    *kube.FreshReader
}

// NewStore returns a store over the manager's cached client, which needs
// the kube.IndexIdentityFold and kube.IndexContractor field indexes and
// caches ConnectedSystems, and a reader of the API server itself.
func NewStore(c client.Client, reader client.Reader) *Store {
	return &Store{client: c, reader: reader,
		contractors: kube.NewFreshReader(c, reader), findings: kube.NewFreshReader(c, reader)}
}

var _ signals.Store = (*Store)(nil)

// ContractorsByAccount lists the contractors with the account, by index.
// On a system whose account ids ignore case (an identity provider's) it
// lists those with the account in any case, so that two contractors who
// list one login in two cases are both found, and the sign-in refused as
// ambiguous, rather than given to whichever case the provider wrote.
func (s *Store) ContractorsByAccount(ctx context.Context, system, id string) ([]types.NamespacedName, error) {
	sys := &accessv1alpha1.ConnectedSystem{}
	err := s.client.Get(ctx, types.NamespacedName{Name: system}, sys)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	return kube.ContractorsByAccount(ctx, s.client, system, id, err == nil && sys.Spec.Type.AccountsIgnoreCase())
}

// Contractor reads a contractor from the cache, or from the API server
// when the cache holds it older than the store's own last write (see
// kube.FreshReader); nil when the cache does not hold it. A
// contractor created a moment ago is missing until the cache sees it.
func (s *Store) Contractor(ctx context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, error) {
	c := &accessv1alpha1.Contractor{}
	err := s.contractors.Get(ctx, key, c)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return c, err
}

// SaveSignIns patches the contractor's status.signIns, failing with a
// Conflict when the contractor changed since c was read. After a Conflict
// the next read of the contractor is at least as new as the API server's
// copy: a cache that lags must not hand the ingester the same stale copy,
// whose sign-ins it would take for duplicates.
func (s *Store) SaveSignIns(ctx context.Context, c *accessv1alpha1.Contractor, summary *accessv1alpha1.SignInSummary) error {
	patch := client.MergeFromWithOptions(c.DeepCopy(), client.MergeFromWithOptimisticLock{})
	c.Status.SignIns = summary
	err := s.client.Status().Patch(ctx, c, patch)
	if apierrors.IsConflict(err) {
		live := &accessv1alpha1.Contractor{}
		if rerr := s.reader.Get(ctx, client.ObjectKeyFromObject(c), live); rerr == nil {
			s.contractors.Wrote(live)
		}
	}
	if err != nil {
		return err
	}
	s.contractors.Wrote(c)
	return nil
}

// Finding reads a Finding through the cache, or from the API server when
// fresh.
func (s *Store) Finding(ctx context.Context, key types.NamespacedName, fresh bool) (*accessv1alpha1.Finding, error) {
	f := &accessv1alpha1.Finding{}
	var err error
	if fresh {
		err = s.reader.Get(ctx, key, f)
	} else {
		err = s.findings.Get(ctx, key, f)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return f, err
}

// CountFindings counts the ingester's Findings of a contractor, overflow
// Findings aside.
func (s *Store) CountFindings(ctx context.Context, contractor types.NamespacedName) (int, error) {
	var list accessv1alpha1.FindingList
	if err := s.client.List(ctx, &list, client.InNamespace(contractor.Namespace),
		client.MatchingFields{kube.IndexContractor: contractor.Name},
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
	if err := s.client.Create(ctx, f); err != nil {
		return err
	}
	s.findings.Wrote(f)
	return nil
}

// UpdateFinding updates a Finding's spec.
func (s *Store) UpdateFinding(ctx context.Context, f *accessv1alpha1.Finding) error {
	if err := s.client.Update(ctx, f); err != nil {
		return err
	}
	s.findings.Wrote(f)
	return nil
}

// Contractors lists every contractor from the cache.
func (s *Store) Contractors(ctx context.Context) ([]accessv1alpha1.Contractor, error) {
	var list accessv1alpha1.ContractorList
	if err := s.client.List(ctx, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}
