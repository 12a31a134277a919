package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/offline"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// clusterSource reads the grant and what its decision depends on from the
// cluster, as the controller gathers it, and decides with the cluster's
// AccessPolicies over the default library's data, as the manager does.
func clusterSource(ctx context.Context, errOut io.Writer, opts explainOptions, ns, name string, now time.Time) (*explainSource, error) {
	if err := opts.checkClusterFlags(); err != nil {
		return nil, err
	}
	c, err := clusterClient(opts.kubeconfig)
	if err != nil {
		return nil, err
	}
	res, err := readCluster(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	opts.eval.defaultData = true
	engine, _, err := opts.eval.engine(ctx, res, errOut)
	if err != nil {
		return nil, err
	}
	in, err := res.Gather(&res.Grants[0], now)
	if err != nil {
		return nil, err
	}
	return &explainSource{input: in, engine: engine, cluster: true}, nil
}

func clusterClient(kubeconfig string) (client.Client, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading cluster configuration: %w", err)
	}
	scheme, err := manager.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, nil
}

// readCluster reads the grant, its Contractor and ConnectedSystem, the
// Findings and PolicyExceptions of its namespace, every AccessPolicy and
// the ConfigMaps their spec.regoFrom names.
func readCluster(ctx context.Context, c client.Client, ns, name string) (*offline.Resources, error) {
	g := &accessv1alpha1.AccessGrant{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, g); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, unknownClusterGrant(ctx, c, ns, name)
		}
		return nil, fmt.Errorf("getting AccessGrant %s/%s: %w", ns, name, err)
	}
	res := &offline.Resources{Grants: []accessv1alpha1.AccessGrant{*g}}
	contractor := &accessv1alpha1.Contractor{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: g.Spec.ContractorRef.Name}, contractor); err != nil {
		return nil, fmt.Errorf("getting Contractor %s/%s of grant %s/%s: %w", ns, g.Spec.ContractorRef.Name, ns, name, err)
	}
	system := &accessv1alpha1.ConnectedSystem{}
	if err := c.Get(ctx, client.ObjectKey{Name: g.Spec.SystemRef.Name}, system); err != nil {
		return nil, fmt.Errorf("getting ConnectedSystem %s of grant %s/%s: %w", g.Spec.SystemRef.Name, ns, name, err)
	}
	res.Contractors = []accessv1alpha1.Contractor{*contractor}
	res.Systems = []accessv1alpha1.ConnectedSystem{*system}
	if err := readLists(ctx, c, ns, res); err != nil {
		return nil, err
	}
	return res, readConfigMaps(ctx, c, res)
}

func readLists(ctx context.Context, c client.Client, ns string, res *offline.Resources) error {
	findings := &accessv1alpha1.FindingList{}
	if err := c.List(ctx, findings, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing Findings of %s: %w", ns, err)
	}
	exceptions := &accessv1alpha1.PolicyExceptionList{}
	if err := c.List(ctx, exceptions, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing PolicyExceptions of %s: %w", ns, err)
	}
	policies := &accessv1alpha1.AccessPolicyList{}
	if err := c.List(ctx, policies); err != nil {
		return fmt.Errorf("listing AccessPolicies: %w", err)
	}
	res.Findings, res.PolicyExceptions, res.Policies = findings.Items, exceptions.Items, policies.Items
	return nil
}

// readConfigMaps reads the ConfigMaps that hold policies' sources; a
// missing one is left for AccessPolicies to report.
func readConfigMaps(ctx context.Context, c client.Client, res *offline.Resources) error {
	for _, p := range res.Policies {
		ref := p.Spec.RegoFrom
		if ref == nil {
			continue
		}
		cm := &corev1.ConfigMap{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, cm)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("getting ConfigMap %s/%s of AccessPolicy %s: %w", ref.Namespace, ref.Name, p.Name, err)
		}
		res.ConfigMaps = append(res.ConfigMaps, *cm)
	}
	return nil
}

// unknownClusterGrant is the error for a grant that does not exist, naming
// the grants of the cluster.
func unknownClusterGrant(ctx context.Context, c client.Client, ns, name string) error {
	grants := &accessv1alpha1.AccessGrantList{}
	if err := c.List(ctx, grants); err != nil {
		return fmt.Errorf("no AccessGrant %s/%s in the cluster, and listing the others failed: %w", ns, name, err)
	}
	_, err := findGrant(grants.Items, ns, name, "in the cluster")
	return err
}

// recordedStatus is what the controller last recorded in the grant's
// status, and how the fresh decision differs from it.
type recordedStatus struct {
	Action      accessv1alpha1.DecisionAction `json:"action,omitempty"`
	Reasons     []string                      `json:"reasons,omitempty"`
	DryRun      []string                      `json:"dryRun,omitempty"`
	Revision    string                        `json:"revision,omitempty"`
	EvaluatedAt *time.Time                    `json:"evaluatedAt,omitempty"`
	Risk        string                        `json:"risk,omitempty"`
	State       accessv1alpha1.GrantState     `json:"state,omitempty"`
	HeldSince   *time.Time                    `json:"heldSince,omitempty"`
	Conditions  []string                      `json:"conditions,omitempty"`
	Differences []string                      `json:"differences,omitempty"`
}

func recorded(g *accessv1alpha1.AccessGrant, fresh policy.Decision) *recordedStatus {
	st := g.Status
	out := &recordedStatus{}
	for _, c := range st.Conditions {
		out.Conditions = append(out.Conditions, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	if e := st.Enforcement; e != nil {
		out.State = e.State
		if e.HeldSince != nil {
			out.HeldSince = timeOf(e.HeldSince.Time)
		}
	}
	if st.Risk != nil {
		out.Risk = fmt.Sprintf("%s %d", st.Risk.Level, st.Risk.Score)
	}
	if d := st.Decision; d != nil {
		out.Action, out.Revision = d.Action, d.PolicyRevision
		if !d.EvaluatedAt.IsZero() {
			out.EvaluatedAt = timeOf(d.EvaluatedAt.Time)
		}
		out.Reasons = recordedReasons(d.Reasons)
		out.DryRun = recordedReasons(d.DryRunReasons)
	}
	out.Differences = differences(out, fresh)
	return out
}

func recordedReasons(reasons []accessv1alpha1.DecisionReason) []string {
	out := make([]string, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, fmt.Sprintf("%s/%s %s: %s", r.Policy, r.Rule, r.Code, r.Message))
	}
	return out
}

func freshReasons(reasons []policy.Reason) []string {
	out := make([]string, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, reasonName(r)+": "+r.Message)
	}
	return out
}

// differences compares the recorded status with the fresh decision.
func differences(rec *recordedStatus, fresh policy.Decision) []string {
	if rec.Action == "" {
		return []string{"the controller has recorded no decision yet"}
	}
	var out []string
	if rec.Action != fresh.Action {
		out = append(out, fmt.Sprintf("action: recorded %s, now %s", rec.Action, fresh.Action))
	}
	out = append(out, listDifferences("reason", rec.Reasons, freshReasons(fresh.Reasons))...)
	out = append(out, listDifferences("dry-run reason", rec.DryRun, freshReasons(fresh.DryRun))...)
	if risk := freshRisk(fresh.Risk); rec.Risk != "" && rec.Risk != risk {
		out = append(out, fmt.Sprintf("risk: recorded %s, now %s", rec.Risk, risk))
	}
	if rec.Revision != "" && rec.Revision != fresh.Revision {
		out = append(out, fmt.Sprintf("policy revision: recorded %s, now %s (the policies or their data differ from the controller's, or changed since)", rec.Revision, fresh.Revision))
	}
	return out
}

// freshRisk renders a risk as the status records it, its score rounded.
func freshRisk(r *policy.Risk) string {
	if r == nil {
		return string(accessv1alpha1.RiskNone) + " 0"
	}
	return fmt.Sprintf("%s %d", r.Level, int32(math.Round(r.Score)))
}

func listDifferences(what string, recorded, fresh []string) []string {
	var out []string
	for _, r := range fresh {
		if !slices.Contains(recorded, r) {
			out = append(out, fmt.Sprintf("%s not recorded: %s", what, r))
		}
	}
	for _, r := range recorded {
		if !slices.Contains(fresh, r) {
			out = append(out, fmt.Sprintf("%s recorded, not given now: %s", what, r))
		}
	}
	return out
}

// guardView is what the grant's status says of the blast-radius guard.
func guardView(g *accessv1alpha1.AccessGrant) string {
	ready := meta.FindStatusCondition(g.Status.Conditions, accessv1alpha1.ConditionReady)
	var held []string
	if e := g.Status.Enforcement; e != nil && e.HeldSince != nil {
		held = append(held, "holding since "+e.HeldSince.UTC().Format(time.RFC3339))
	}
	if ready != nil && ready.Reason == accessv1alpha1.ReasonHeldByGuard {
		held = append(held, ready.Message)
	}
	if len(held) == 0 {
		return "not holding this grant: status.enforcement.heldSince is empty and Ready is not HeldByGuard"
	}
	return strings.Join(held, ": ")
}
