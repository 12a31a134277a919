package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/manifests"
)

// laptopFarmArgs explain a grant of the samples after their sign-ins, as
// TestEvalSignInsSamples decides them.
func laptopFarmArgs(t *testing.T, grant string, extra ...string) []string {
	t.Helper()
	tor := filepath.Join(t.TempDir(), "tor-exits.txt")
	if err := os.WriteFile(tor, samples.TorExits, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"explain", grant, "-f", samplesDir, "--builtin-policies",
		"--signins", samplesDir + "/signins.ndjson", "--tor-exit-list", tor, "--now", "2026-12-05T12:00:00Z"}
	return append(args, extra...)
}

// explainJSON runs explain -o json and decodes its output.
func explainJSON(t *testing.T, stdin string, args ...string) explanation {
	t.Helper()
	out, errOut, err := runWithStdin(t, stdin, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, errOut)
	}
	var exp explanation
	if err := json.Unmarshal([]byte(out), &exp); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return exp
}

func reasonOf(t *testing.T, reasons []explainedReason, policyName, code string) explainedReason {
	t.Helper()
	for _, r := range reasons {
		if r.Policy == policyName && r.Code == code {
			return r
		}
	}
	t.Fatalf("no reason %s %s among %+v", policyName, code, reasons)
	return explainedReason{}
}

func exceptionOf(t *testing.T, exp explanation, name string) explainedException {
	t.Helper()
	for _, x := range exp.Exceptions {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no exception %s among %+v", name, exp.Exceptions)
	return explainedException{}
}

func TestExplainLaptopFarm(t *testing.T) {
	exp := explainJSON(t, "", laptopFarmArgs(t, "contractors/casey-payments-edit")...)
	if exp.Action != accessv1alpha1.ActionQuarantine || !slices.Equal(exp.Policies, []string{"anonymizers", "risk"}) {
		t.Fatalf("decision = %s by %v, want Quarantine by anonymizers, risk", exp.Action, exp.Policies)
	}
	checkFarmEvidence(t, exp)
	if exp.Risk.Level != accessv1alpha1.RiskHigh || exp.Risk.Score != 7 || len(exp.Risk.Contributions) != 2 {
		t.Errorf("risk = %+v, want High 7 of TorExit and SharedAddress", exp.Risk)
	}
	if x := exceptionOf(t, exp, "alex-conference-vpn"); x.Applies || x.WhyNot != "names contractor alex-morgan, not casey-novak" {
		t.Errorf("alex-conference-vpn = %+v, want it not to apply as it names alex-morgan", x)
	}
	if !strings.HasPrefix(exp.Guard, "not consulted offline") {
		t.Errorf("guard = %q", exp.Guard)
	}
	checkFarmChanges(t, exp.Changes)
}

// checkFarmEvidence checks that Casey's Tor reasons rest on the Tor Finding.
func checkFarmEvidence(t *testing.T, exp explanation) {
	t.Helper()
	hidden := reasonOf(t, exp.Reasons, "anonymizers", "HiddenOrigin")
	if len(hidden.RestsOn) != 1 {
		t.Fatalf("HiddenOrigin rests on %+v, want the Tor anonymizer Finding alone", hidden.RestsOn)
	}
	if e := hidden.RestsOn[0]; !strings.HasPrefix(e.Name, "casey-novak-anonymizer-") || e.Type != "anonymizer tor" || !e.Necessary || e.Observed == nil {
		t.Errorf("HiddenOrigin rests on %+v, want the Tor anonymizer Finding, necessary, with its time", e)
	}
	tor := reasonOf(t, exp.Reasons, "risk", "TorExit")
	if !slices.ContainsFunc(tor.RestsOn, func(e evidenceItem) bool { return e.Named && e.Name == hidden.RestsOn[0].Name }) {
		t.Errorf("TorExit does not name the Tor Finding as its evidence: %+v", tor.RestsOn)
	}
}

// checkFarmChanges checks what would change Casey's quarantine.
func checkFarmChanges(t *testing.T, c outcomeChanges) {
	t.Helper()
	if len(c.Scores) != 1 || c.Scores[0].Score != 7 || c.Scores[0].Threshold != 6 ||
		!slices.Equal(c.Scores[0].Enough, []string{"SharedAddress +3", "TorExit +4"}) {
		t.Errorf("scores = %+v", c.Scores)
	}
	if all := c.WithoutAll; all == nil || all.Action != accessv1alpha1.ActionAllow || len(all.Without) != 2 {
		t.Errorf("without all the evidence = %+v, want Allow without the two Findings", all)
	}
}

func TestExplainText(t *testing.T) {
	out, errOut, err := runWithStdin(t, "", laptopFarmArgs(t, "contractors/jordan-payments-edit")...)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, errOut)
	}
	for _, want := range []string{
		"AccessGrant contractors/jordan-payments-edit (contractor jordan-lee, system this-cluster)",
		"Decision: Quarantine, by anonymizers",
		"anonymizers/quarantine SharedInfrastructure [High]: shares ip:73.162.45.18 with casey-novak",
		"rests on Finding jordan-lee-shared-infrastructure-",
		"alex-conference-vpn (policy anonymizers): does not apply: names contractor alex-morgan, not jordan-lee",
		"Guard: not consulted offline",
		": resolve and delete it, or it expires at ",
		"without Finding jordan-lee-shared-infrastructure-",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestExplainExceptionLeavesAnotherPolicy(t *testing.T) {
	exp := explainJSON(t, "", "explain", "contractors/alex-payments-edit", "-f", samplesDir, "--builtin-policies",
		"--data", strictData(t), "--now", "2026-11-28T12:00:00Z")
	if exp.Action != accessv1alpha1.ActionQuarantine {
		t.Fatalf("action = %s, want the risk policy's Quarantine", exp.Action)
	}
	x := exceptionOf(t, exp, "alex-conference-vpn")
	if !x.Applies || !slices.Equal(x.Exempts, []string{"anonymizers/quarantine CommercialVPN"}) {
		t.Errorf("alex-conference-vpn = %+v, want it to set aside the anonymizers reason", x)
	}
	want := exemptionMiss{Reason: "risk/quarantine CommercialVPN", Why: "names policy anonymizers, not risk"}
	if !slices.Contains(x.DoesNotExempt, want) {
		t.Errorf("does not exempt %+v, want %+v", x.DoesNotExempt, want)
	}
	vpn := reasonOf(t, exp.Reasons, "risk", "CommercialVPN")
	if len(vpn.RestsOn) != 1 || vpn.RestsOn[0].Name != "alex-morgan-anonymizer-vpn" || vpn.RestsOn[0].Severity != "Medium" {
		t.Errorf("CommercialVPN rests on %+v, want Finding alex-morgan-anonymizer-vpn", vpn.RestsOn)
	}
	one := exp.Changes.WithoutOne
	if len(one) != 1 || one[0].Action != accessv1alpha1.ActionAllow || one[0].Without[0] != "Finding alex-morgan-anonymizer-vpn" {
		t.Errorf("without one = %+v, want Allow without the VPN Finding", one)
	}
}

func TestExplainExceptionsThatDoNotApply(t *testing.T) {
	tests := map[string]struct{ expiry, want string }{
		"expired":  {`expiresAt: "2026-11-01T00:00:00Z"`, "expired at 2026-11-01T00:00:00Z"},
		"too long": {`expiresAt: "2027-11-01T00:00:00Z"`, "lasts 337 days, longer than the 90 days the policy data allows"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			stdin := strings.Replace(sampleDocuments(t), `expiresAt: "2027-02-26T00:00:00Z"`, tt.expiry, 1)
			exp := explainJSON(t, stdin, "explain", "contractors/alex-payments-edit", "-f", "-", "--now", "2026-11-28T12:00:00Z")
			x := exceptionOf(t, exp, "alex-conference-vpn")
			if x.Applies || !strings.HasPrefix(x.WhyNot, tt.want) {
				t.Errorf("alex-conference-vpn = %+v, want it not to apply: %s", x, tt.want)
			}
			if exp.Action != accessv1alpha1.ActionQuarantine || len(exp.Exempted) != 0 {
				t.Errorf("decision = %s, exempted %+v: without the exception the VPN quarantines", exp.Action, exp.Exempted)
			}
		})
	}
}

func TestExplainBadInput(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no namespace":    {[]string{"explain", "alex-payments-edit", "-f", samplesDir}, `grant "alex-payments-edit": name the grant as NAMESPACE/NAME`},
		"two slashes":     {[]string{"explain", "a/b/c", "-f", samplesDir}, `grant "a/b/c": name the grant as NAMESPACE/NAME`},
		"empty namespace": {[]string{"explain", "/x", "-f", samplesDir}, `namespace "" is not a valid namespace name`},
		"bad name":        {[]string{"explain", "contractors/Bad_Name\n", "-f", samplesDir}, `is not a valid object name`},
		"unknown grant": {[]string{"explain", "contractors/nobody", "-f", samplesDir},
			"no AccessGrant contractors/nobody in the files; grants found: contractors/alex-entra-payments, contractors/alex-google-payments, contractors/alex-ldap-payments, contractors/alex-okta-org-payments, contractors/alex-payments-db, contractors/alex-payments-edit, contractors/alex-slack-payments, contractors/casey-payments-edit, contractors/jordan-payments-edit"},
		"no grants":       {[]string{"explain", "a/b", "-f", filepath.Join(samplesDir, "20-accesspolicy.yaml")}, "no AccessGrant a/b in the files; there are no AccessGrants"},
		"bad output":      {[]string{"explain", "a/b", "-f", samplesDir, "-o", "yaml"}, `-o "yaml": use text or json`},
		"no grant":        {[]string{"explain", "-f", samplesDir}, "accepts 1 arg(s), received 0"},
		"sign-ins, no -f": {[]string{"explain", "a/b", "--signins", "x.ndjson"}, "--signins, --replay and the enrichment flags add Findings to resources read with -f"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, err := runWithStdin(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q\n%s%s", err, tt.want, out, errOut)
			}
		})
	}
}

// startCluster starts an API server with the CRDs and returns a client
// and the path of an admin kubeconfig.
func startCluster(t *testing.T) (client.Client, string) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: no API server to test against")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "explainer", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	scheme, err := manager.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, path
}

// applySamples creates the samples' namespace and objects.
func applySamples(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	objs, err := sampleObjects()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "contractors"}}); err != nil {
		t.Fatal(err)
	}
	var kept = objs[:0]
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			kept = append(kept, o)
		}
	}
	if err := manifests.Apply(ctx, c, "explain-test", kept); err != nil {
		t.Fatalf("applying the samples: %v", err)
	}
}

// recordStatus writes a status as the controller would have: a quarantine
// held by the guard.
func recordStatus(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	g := &accessv1alpha1.AccessGrant{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "contractors", Name: "alex-payments-edit"}, g); err != nil {
		t.Fatal(err)
	}
	held := metav1.NewTime(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	g.Status.Decision = &accessv1alpha1.Decision{Action: accessv1alpha1.ActionQuarantine, PolicyRevision: "0123456789ab", EvaluatedAt: held,
		Reasons: []accessv1alpha1.DecisionReason{{Policy: "anonymizers", Rule: "quarantine", Code: "CommercialVPN",
			Message: "signed in through a commercial VPN from 198.51.100.23", Severity: accessv1alpha1.SeverityMedium}}}
	g.Status.Enforcement = &accessv1alpha1.Enforcement{State: accessv1alpha1.GrantActive, HeldSince: &held}
	g.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: accessv1alpha1.ReasonHeldByGuard, Message: "the guard holds the quarantine", LastTransitionTime: held}}
	if err := c.Status().Update(ctx, g); err != nil {
		t.Fatalf("recording a status: %v", err)
	}
}

func TestExplainCluster(t *testing.T) {
	ctx := context.Background()
	c, kubeconfig := startCluster(t)
	applySamples(ctx, t, c)
	recordStatus(ctx, t, c)

	out, errOut, err := runWithStdin(t, "", "explain", "contractors/alex-payments-edit", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, errOut)
	}
	for _, want := range []string{
		"Decided from the cluster at ",
		"Decision: Allow",
		"set aside by PolicyException alex-conference-vpn",
		"rests on Finding alex-morgan-anonymizer-vpn (anonymizer vpn, Medium, 198.51.100.23",
		"Guard: holding since 2026-11-27T08:00:00Z: the guard holds the quarantine",
		"Recorded by the controller:",
		"state: Active",
		"condition Ready=False HeldByGuard: the guard holds the quarantine",
		"differs: action: recorded Quarantine, now Allow",
		"differs: reason recorded, not given now: anonymizers/quarantine CommercialVPN: signed in through a commercial VPN from 198.51.100.23",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	_, _, err = runWithStdin(t, "", "explain", "contractors/nobody", "--kubeconfig", kubeconfig)
	if err == nil || !strings.Contains(err.Error(), "no AccessGrant contractors/nobody in the cluster; grants found: contractors/alex-payments-edit, contractors/casey-payments-edit, contractors/jordan-payments-edit") {
		t.Errorf("an unknown grant: err = %v", err)
	}
}
