package controllers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/cel-go/cel"
	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// healthCase is a grant in one state, and what kstatus, the Argo CD health
// script and the Flux health expressions must read from it.
type healthCase struct {
	name  string
	grant *accessv1alpha1.AccessGrant
	flux  status.Status
	argo  string
}

func healthCases() []healthCase {
	now := metav1.Now()
	grant := func(generation, observed int64, ready *metav1.Condition) *accessv1alpha1.AccessGrant {
		g := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", Generation: generation}}
		g.APIVersion, g.Kind = accessv1alpha1.GroupVersion.String(), "AccessGrant"
		g.Status.ObservedGeneration = observed
		if ready != nil {
			setConditions(&g.Status.Conditions, now, *ready)
		}
		return g
	}
	ready := func(ok bool, reason string) *metav1.Condition {
		c := condition(accessv1alpha1.ConditionReady, ok, reason, "why", 1)
		return &c
	}
	cases := []healthCase{
		{"new, no status written yet", grant(1, 0, nil), status.InProgressStatus, "Progressing"},
		{"enforced", grant(1, 1, ready(true, accessv1alpha1.ReasonEnforced)), status.CurrentStatus, "Healthy"},
		{"a newer spec not seen yet", grant(2, 1, ready(true, accessv1alpha1.ReasonEnforced)), status.InProgressStatus, "Progressing"},
	}
	for reason := range stalledReasons {
		cases = append(cases, healthCase{"stalled on " + reason, grant(1, 1, ready(false, reason)), status.FailedStatus, "Degraded"})
	}
	for _, reason := range []string{accessv1alpha1.ReasonEnforcementFailed, accessv1alpha1.ReasonUnreachable,
		accessv1alpha1.ReasonDecisionFailed, accessv1alpha1.ReasonInUse, accessv1alpha1.ReasonSystemDeleting} {
		cases = append(cases, healthCase{"reconciling on " + reason, grant(1, 1, ready(false, reason)), status.InProgressStatus, "Progressing"})
	}
	return cases
}

func TestGitOpsHealthChecksReadWhatKstatusReads(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "config", "gitops", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	flux := fluxExpressions(t)
	for _, c := range healthCases() {
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c.grant)
		if err != nil {
			t.Fatal(err)
		}
		// The API server returns the CRD's default, observedGeneration 0,
		// which the Go type's omitempty would drop.
		st, _ := obj["status"].(map[string]any)
		if st == nil {
			st = map[string]any{}
			obj["status"] = st
		}
		if _, ok := st["observedGeneration"]; !ok {
			st["observedGeneration"] = int64(0)
		}
		res, err := status.Compute(&unstructured.Unstructured{Object: obj})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Status; got != c.flux {
			t.Errorf("%s: kstatus reads %s, want %s", c.name, got, c.flux)
		}
		if got := argoHealth(t, string(script), obj); got != c.argo {
			t.Errorf("%s: the Argo CD script reads %s, want %s", c.name, got, c.argo)
		}
		if got := flux(obj); got != c.flux {
			t.Errorf("%s: the Flux expressions read %s, want %s", c.name, got, c.flux)
		}
	}
}

// argoHealth runs the health script as Argo CD does: obj is a global table,
// and the script returns a table with status and message.
func argoHealth(t *testing.T, script string, obj map[string]any) string {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("the health script failed: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the health script returned %v, not a table", L.Get(-1))
	}
	if msg := hs.RawGetString("message"); msg.Type() != lua.LTString {
		t.Errorf("the health script gave no message: %v", msg)
	}
	return hs.RawGetString("status").String()
}

// toLua converts decoded JSON into Lua values, lists as 1-based tables.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, x := range v {
			t.RawSetString(k, toLua(L, x))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, x := range v {
			t.Append(toLua(L, x))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}

// fluxExpressions compiles the AccessGrant entry of the Flux health checks
// and returns how Flux reads an object with them: inProgress first, then
// failed, then current, else in progress.
func fluxExpressions(t *testing.T) func(map[string]any) status.Status {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "config", "gitops", "flux", "health-check-exprs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var checks []map[string]string
	if err := yaml.Unmarshal(raw, &checks); err != nil {
		t.Fatal(err)
	}
	if len(checks) != 8 {
		t.Fatalf("%d health checks, want one for each of the eight kinds", len(checks))
	}
	env, err := cel.NewEnv(cel.OptionalTypes(), cel.Variable("metadata", cel.DynType),
		cel.Variable("spec", cel.DynType), cel.Variable("status", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	programs := map[string]cel.Program{}
	for _, key := range []string{"inProgress", "failed", "current"} {
		ast, iss := env.Compile(checks[0][key])
		if iss.Err() != nil {
			t.Fatalf("%s: %v", key, iss.Err())
		}
		if programs[key], err = env.Program(ast); err != nil {
			t.Fatal(err)
		}
	}
	return func(obj map[string]any) status.Status {
		vars := map[string]any{"metadata": obj["metadata"], "spec": obj["spec"], "status": obj["status"]}
		for _, step := range []struct {
			key    string
			result status.Status
		}{{"inProgress", status.InProgressStatus}, {"failed", status.FailedStatus}, {"current", status.CurrentStatus}} {
			out, _, err := programs[step.key].Eval(vars)
			if err != nil {
				t.Fatalf("%s: %v", step.key, err)
			}
			if out.Value() == true {
				return step.result
			}
		}
		return status.InProgressStatus
	}
}
