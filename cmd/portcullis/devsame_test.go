package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/manifests"
	"github.com/portcullis-dev/portcullis/internal/offline"
)

// outcomes maps each grant ("namespace/name") to its action and sorted
// reason codes, "Quarantine [SharedDevice TorExit]".
type outcomes map[string]string

func outcome(action accessv1alpha1.DecisionAction, codes []string) string {
	slices.Sort(codes)
	return fmt.Sprintf("%s %v", action, slices.Compact(codes))
}

// evalOutcomes runs portcullis eval on the samples that portcullis dev
// applies (refreshed as it refreshes them) and their sign-ins, replayed to
// this week as `portcullis ingest --replay` sends them.
func evalOutcomes(ctx context.Context, t *testing.T, bin string) outcomes {
	t.Helper()
	dir := t.TempDir()
	tor := filepath.Join(dir, "tor-exits.txt")
	if err := os.WriteFile(tor, samples.TorExits, 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.DecodeFS(samples.Files, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	samples.Refresh(objs, time.Now())
	var docs []string
	for _, o := range objs {
		raw, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(raw))
	}
	applied := filepath.Join(dir, "samples.yaml")
	if err := os.WriteFile(applied, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "eval", "-f", applied, "--builtin-policies", "--signins", samplesDir+"/signins.ndjson",
		"--tor-exit-list", tor, "--replay", "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("portcullis eval: %v\n%s", err, stderr.String())
	}
	var decisions []offline.GrantDecision
	if err := json.Unmarshal(stdout, &decisions); err != nil {
		t.Fatalf("decoding eval's output: %v", err)
	}
	out := outcomes{}
	for _, d := range decisions {
		var codes []string
		for _, r := range d.Decision.Reasons {
			codes = append(codes, r.Code)
		}
		out[d.Grant] = outcome(d.Decision.Action, codes)
	}
	return out
}

// clusterOutcomes reads every grant's decision from the cluster.
func clusterOutcomes(ctx context.Context, c client.Client) (outcomes, error) {
	grants := &accessv1alpha1.AccessGrantList{}
	if err := c.List(ctx, grants); err != nil {
		return nil, err
	}
	out := outcomes{}
	for _, g := range grants.Items {
		if g.Status.Decision == nil {
			out[g.Namespace+"/"+g.Name] = "undecided"
			continue
		}
		var codes []string
		for _, r := range g.Status.Decision.Reasons {
			codes = append(codes, r.Code)
		}
		out[g.Namespace+"/"+g.Name] = outcome(g.Status.Decision.Action, codes)
	}
	return out, nil
}

// expectSameAsEval waits until every grant of the running dev cluster is
// decided as portcullis eval decides the same samples and sign-ins.
func expectSameAsEval(ctx context.Context, t *testing.T, bin string, c client.Client) {
	t.Helper()
	want := evalOutcomes(ctx, t, bin)
	if len(want) == 0 {
		t.Fatal("eval decided no grant of the samples")
	}
	var got outcomes
	for {
		var err error
		got, err = clusterOutcomes(ctx, c)
		if err == nil && fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the cluster's decisions differ from portcullis eval's on the same samples and sign-ins:\ncluster: %v\neval:    %v", got, want)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// expectContractorRisk waits until the contractor shows a risk of at least
// High, explained by its contributions.
func expectContractorRisk(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey) {
	t.Helper()
	for {
		contractor := &accessv1alpha1.Contractor{}
		err := c.Get(ctx, key, contractor)
		r := contractor.Status.Risk
		if err == nil && r != nil && (r.Level == accessv1alpha1.RiskHigh || r.Level == accessv1alpha1.RiskCritical) &&
			r.Policy == "risk" && len(r.Contributions) > 0 && r.Contributions[0].Message != "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("contractor %s never showed a High risk with its contributions: %v %+v", key, err, r)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
