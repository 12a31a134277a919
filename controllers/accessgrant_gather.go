package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// errSystemDeleting refuses a grant that holds nothing on a system being
// deleted: the system waits for its grants, and must not gain new ones.
var errSystemDeleting = errors.New("no new access is granted on it")

// grantScope carries one reconcile of a grant through its phases.
type grantScope struct {
	grant  *accessv1alpha1.AccessGrant
	before *accessv1alpha1.AccessGrant
	now    time.Time

	// Gathered.
	input       policy.Input
	missing     *metav1.Condition // a ReferencesResolved=False condition, or nil
	refused     error             // the system does not allow the entitlement
	credentials map[string][]byte
	credErr     error
	connector   connectors.Connector

	// Decided.
	decision    *policy.Decision
	decisionErr error

	// Planned.
	desired  accessv1alpha1.GrantState
	recorded bool // the contractor carries a revocation record for the entitlement
	held     bool
	released bool // a person released a held transition with the annotation

	// Enforced.
	enforceErr error
	applied    bool   // the connector changed the system this reconcile
	detail     string // what the connector did
}

func newGrantScope(g *accessv1alpha1.AccessGrant, now time.Time) *grantScope {
	return &grantScope{grant: g, before: g.DeepCopy(), now: now, input: policy.Input{Grant: g, Now: now}}
}

// gather reads everything the decision and the enforcement need. It
// reports false, to wait, while the engine does not yet hold every policy.
func (r *AccessGrantReconciler) gather(ctx context.Context, s *grantScope) (bool, error) {
	policies := &accessv1alpha1.AccessPolicyList{}
	if err := r.List(ctx, policies); err != nil {
		return false, fmt.Errorf("listing policies: %w", err)
	}
	if !r.Sync.Synced(policies.Items) {
		return false, nil
	}
	if err := r.gatherReferences(ctx, s); err != nil || s.missing != nil {
		return true, err
	}
	s.refused = s.input.System.AllowsEntitlement(s.grant.Spec.Entitlement)
	if s.refused == nil && !s.input.System.DeletionTimestamp.IsZero() && !holdsAccess(s.grant) {
		s.refused = fmt.Errorf("ConnectedSystem %s is being deleted: %w", s.input.System.Name, errSystemDeleting)
	}
	if err := r.gatherEvidence(ctx, s); err != nil {
		return true, err
	}
	s.credErr = r.gatherCredentials(ctx, s)
	return true, nil
}

func (r *AccessGrantReconciler) gatherReferences(ctx context.Context, s *grantScope) error {
	g := s.grant
	contractor := &accessv1alpha1.Contractor{}
	cond, err := contractorCondition(ctx, r.Client, g.Namespace, g.Spec.ContractorRef.Name, g.Generation)
	if err != nil || cond.Status != metav1.ConditionTrue {
		cond.Type = accessv1alpha1.ConditionReferencesResolved
		s.missing = &cond
		return err
	}
	if err := r.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.Spec.ContractorRef.Name}, contractor); err != nil {
		return fmt.Errorf("getting contractor: %w", err)
	}
	system := &accessv1alpha1.ConnectedSystem{}
	err = r.Get(ctx, client.ObjectKey{Name: g.Spec.SystemRef.Name}, system)
	if apierrors.IsNotFound(err) {
		cond, _ := systemCondition(ctx, r.Client, g.Spec.SystemRef.Name, g.Generation)
		s.missing = &cond
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting connected system: %w", err)
	}
	s.input.Contractor, s.input.System = contractor, system
	s.connector, err = r.Connectors.For(system.Spec.Type)
	return err
}

func (r *AccessGrantReconciler) gatherEvidence(ctx context.Context, s *grantScope) error {
	g := s.grant
	findings := &accessv1alpha1.FindingList{}
	if err := r.List(ctx, findings, client.InNamespace(g.Namespace),
		client.MatchingFields{kube.IndexContractor: g.Spec.ContractorRef.Name}); err != nil {
		return fmt.Errorf("listing findings: %w", err)
	}
	exceptions := &accessv1alpha1.PolicyExceptionList{}
	if err := r.List(ctx, exceptions, client.InNamespace(g.Namespace)); err != nil {
		return fmt.Errorf("listing exceptions: %w", err)
	}
	s.input.Findings, s.input.Exceptions = findings.Items, exceptions.Items
	return nil
}

// gatherCredentials reads the system's Secret, uncached. Its data stays in
// the scope and goes only to the connector.
func (r *AccessGrantReconciler) gatherCredentials(ctx context.Context, s *grantScope) error {
	data, err := r.Credentials.Read(ctx, s.input.System)
	s.credentials = data
	return err
}
