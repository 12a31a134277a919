package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// Suite is a scenario suite file: base resources shared by its scenarios,
// and the scenarios.
type Suite struct {
	// Base resources are part of every scenario; a scenario's resource with
	// the same kind, namespace and name replaces a base one.
	Base []json.RawMessage `json:"base,omitempty"`
	// Networks enrich the scenarios' sign-ins: what GeoIP, ASN and
	// anonymous-IP databases would say of each network. A sign-in from an
	// address in none of them has no country, AS number or anonymizer.
	Networks []Network `json:"networks,omitempty"`
	// Scenarios are the cases.
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario is one case: resources, a decision time, optional data overrides,
// and the expected outcome of every grant, or a label.
type Scenario struct {
	Name string `json:"name"`
	// Label is honest or hostile for the detection measurement (see
	// Measure). A labelled scenario may leave Expect out: an honest one
	// should be allowed, a hostile one actioned, and Measure counts how
	// often the library gets that right rather than failing the run.
	Label     Label             `json:"label,omitempty"`
	Now       string            `json:"now"`
	Data      map[string]any    `json:"data,omitempty"`
	Resources []json.RawMessage `json:"resources,omitempty"`
	// SignIns are sign-in events as POST /v1/signins takes them. They go
	// through the manager's ingester — the suite's networks for enrichment,
	// its correlators, its Finding writer — with its clock at Now, before
	// the grants are decided; every one must be accepted.
	SignIns []json.RawMessage `json:"signIns,omitempty"`
	Expect  []Expectation     `json:"expect,omitempty"`
}

// Label says whether a scenario's contractor is honest or hostile.
type Label string

// The labels of the detection measurement.
const (
	Honest  Label = "honest"
	Hostile Label = "hostile"
)

// Expectation is the expected decision for one grant.
type Expectation struct {
	// Grant is "namespace/name".
	Grant string `json:"grant"`
	// Action is Allow, Quarantine or Revoke. Required.
	Action accessv1alpha1.DecisionAction `json:"action"`
	// Codes are exactly the reason codes of the enforcing policies, in any
	// order. Required (empty for none).
	Codes *[]string `json:"codes"`
}

// ScenarioResult is the outcome of one scenario.
type ScenarioResult struct {
	Name     string
	Source   string
	Failures []string
	Duration time.Duration
	// Label is the scenario's label; Outcome the most severe action over
	// its grants, and Codes the reason codes of the grants' decisions.
	Label   Label
	Outcome accessv1alpha1.DecisionAction
	Codes   []string
}

// ParseSuite reads a scenario suite, strictly.
func ParseSuite(source string, data []byte) (*Suite, error) {
	suite := &Suite{}
	if err := yaml.UnmarshalStrict(data, suite); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(suite.Scenarios) == 0 {
		return nil, fmt.Errorf("%s: no scenarios: a suite lists its cases under scenarios", source)
	}
	return suite, nil
}

// Runner runs scenarios against a policy library.
type Runner struct {
	// Modules are the library's policies, enforced in every scenario.
	Modules []policy.Module
	// Data is the library's reference data; a scenario's data merges over it.
	Data map[string]any
}

// Run runs every scenario of a suite.
func (r *Runner) Run(ctx context.Context, source string, suite *Suite) []ScenarioResult {
	results := make([]ScenarioResult, 0, len(suite.Scenarios))
	enricher, enrichErr := NetworkEnricher(suite.Networks)
	if enrichErr == nil {
		defer func() { _ = enricher.Close() }()
	}
	for i, sc := range suite.Scenarios {
		start := time.Now()
		where := fmt.Sprintf("%s#%d", source, i)
		res := ScenarioResult{Name: sc.Name, Source: where, Label: sc.Label}
		var decisions []GrantDecision
		var failures []string
		if enrichErr != nil && len(sc.SignIns) > 0 {
			failures = []string{fmt.Sprintf("%s: %v", source, enrichErr)}
		} else {
			decisions, failures = r.runOne(ctx, where, suite.Base, sc, enricher)
		}
		res.Failures, res.Duration = failures, time.Since(start)
		res.Outcome, res.Codes = outcome(decisions)
		results = append(results, res)
	}
	return results
}

func (r *Runner) runOne(ctx context.Context, where string, base []json.RawMessage, sc Scenario, enricher *signals.Enricher) ([]GrantDecision, []string) {
	fail := func(msg string) ([]GrantDecision, []string) { return nil, []string{msg} }
	switch {
	case sc.Name == "":
		return fail("the scenario has no name")
	case sc.Label != "" && sc.Label != Honest && sc.Label != Hostile:
		return fail(fmt.Sprintf("label %q is neither honest nor hostile", sc.Label))
	case sc.Label == "" && sc.Expect == nil:
		return fail("the scenario has neither expect nor a label: say what every grant's decision must be")
	}
	now, err := time.Parse(time.RFC3339, sc.Now)
	if err != nil {
		return fail(fmt.Sprintf("now %q is not an RFC 3339 time: %v", sc.Now, err))
	}
	res, err := scenarioResources(where, base, sc.Resources)
	if err != nil {
		return fail(err.Error())
	}
	data := policy.MergeData(r.Data, sc.Data)
	if err := ingestScenario(ctx, res, sc, enricher, data, now); err != nil {
		return fail(err.Error())
	}
	pols, err := res.AccessPolicies()
	if err != nil {
		return fail(err.Error())
	}
	engine, err := NewEngine(ctx, data, append(ModulePolicies(r.Modules), pols...))
	if err != nil {
		return fail(err.Error())
	}
	decisions, err := res.DecideAll(ctx, engine, now)
	if err != nil {
		return fail(err.Error())
	}
	if sc.Label != "" && sc.Expect == nil {
		return decisions, nil
	}
	return decisions, compare(decisions, sc.Expect)
}

// ingestScenario runs the scenario's sign-ins through the ingester.
func ingestScenario(ctx context.Context, res *Resources, sc Scenario, enricher *signals.Enricher, data map[string]any, now time.Time) error {
	if len(sc.SignIns) == 0 {
		return nil
	}
	lists, err := signals.ListsFromData(data)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	for _, raw := range sc.SignIns {
		body.Write(raw)
		body.WriteByte('\n')
	}
	report, err := res.IngestSignIns(ctx, []SignInFile{{Name: "signIns", Body: body.Bytes()}},
		SignInOptions{Enricher: enricher, Lists: lists, Now: now})
	if err != nil {
		return err
	}
	if len(report.Rejections) > 0 {
		var msgs []string
		for _, r := range report.Rejections {
			msgs = append(msgs, fmt.Sprintf("signIns[%d]: %s", r.Index, r.Error))
		}
		return fmt.Errorf("the ingester refused sign-ins of the scenario: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// scenarioResources decodes base and scenario resources; scenario objects
// replace base objects with the same kind, namespace and name.
func scenarioResources(where string, base, own []json.RawMessage) (*Resources, error) {
	byKey := map[string]json.RawMessage{}
	var order []string
	for _, raw := range append(slices.Clone(base), own...) {
		var head struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		key := head.Kind + "/" + head.Metadata.Namespace + "/" + head.Metadata.Name
		if _, ok := byKey[key]; !ok {
			order = append(order, key)
		}
		byKey[key] = raw
	}
	res := &Resources{}
	for _, key := range order {
		if err := res.AddManifest(where+" "+key, byKey[key]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// compare checks every decision against its expectation. A grant without an
// expectation, or an expectation without an action or codes, is a failure:
// a scenario must say what it expects.
func compare(decisions []GrantDecision, expect []Expectation) []string {
	var failures []string
	byGrant := map[string]Expectation{}
	for _, e := range expect {
		byGrant[e.Grant] = e
	}
	for _, d := range decisions {
		e, ok := byGrant[d.Grant]
		if !ok {
			failures = append(failures, fmt.Sprintf("grant %s has no expectation: add {grant: %s, action: ..., codes: [...]} under expect", d.Grant, d.Grant))
			continue
		}
		delete(byGrant, d.Grant)
		failures = append(failures, check(d, e)...)
	}
	for grant := range byGrant {
		failures = append(failures, fmt.Sprintf("expect names grant %s, which is not among the resources", grant))
	}
	sort.Strings(failures)
	return failures
}

func check(d GrantDecision, e Expectation) []string {
	if e.Action == "" || e.Codes == nil {
		return []string{fmt.Sprintf("grant %s: the expectation needs both action and codes", d.Grant)}
	}
	var failures []string
	if d.Decision.Action != e.Action {
		failures = append(failures, fmt.Sprintf("grant %s: action = %s, want %s%s", d.Grant, d.Decision.Action, e.Action, describe(d.Decision.Reasons)))
	}
	got := reasonCodes(d.Decision.Reasons)
	want := slices.Sorted(slices.Values(*e.Codes))
	if !slices.Equal(got, want) {
		failures = append(failures, fmt.Sprintf("grant %s: codes = [%s], want [%s]", d.Grant, strings.Join(got, ", "), strings.Join(want, ", ")))
	}
	return failures
}

func reasonCodes(reasons []policy.Reason) []string {
	set := map[string]bool{}
	for _, r := range reasons {
		set[r.Code] = true
	}
	codes := make([]string, 0, len(set))
	for c := range set {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	return codes
}

func describe(reasons []policy.Reason) string {
	if len(reasons) == 0 {
		return ""
	}
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s/%s: %s", r.Policy, r.Code, r.Message))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// ErrFailed is returned when a test or scenario failed.
var ErrFailed = errors.New("tests failed")

// ErrTargetsMissed is returned when the detection measurement misses its
// targets.
var ErrTargetsMissed = errors.New("detection targets missed")
