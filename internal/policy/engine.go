package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Engine compiles policies and decides grants. The controller and the CLI
// use the same implementation.
type Engine interface {
	// Upsert compiles a policy and, on success, puts it in place of the
	// previous version with the same name. On failure the previous version,
	// if any, stays in use and the error is a *CompileError.
	Upsert(ctx context.Context, p Policy) (revision string, err error)
	// Fail puts in place, for a policy that has no good version loaded,
	// an entry whose every evaluation fails with err: the grants it applies
	// to follow its failurePolicy instead of losing the policy. A policy
	// with a good version loaded keeps it.
	Fail(p Policy, err error)
	// Remove drops a policy.
	Remove(name string)
	// Decide evaluates every policy that applies to the input's grant.
	Decide(ctx context.Context, in Input) (Decision, error)
	// Revision identifies the loaded policy set and reference data.
	Revision() string
	// Loaded returns the names and revisions of the loaded policies.
	Loaded() map[string]string
}

// DefaultTimeout bounds one policy's evaluation for one decision.
const DefaultTimeout = 100 * time.Millisecond

// Options configure an engine.
type Options struct {
	// Data is the reference data, readable by policies under data.portcullis.
	Data map[string]any
	// Timeout bounds one policy's evaluation; zero means DefaultTimeout.
	Timeout time.Duration
}

// OPAEngine is the Engine built on OPA.
type OPAEngine struct {
	store   storage.Store
	dataRev string
	timeout time.Duration
	// maxException is the longest a PolicyException may last.
	maxException time.Duration
	// levels band risk scores.
	levels RiskLevels
	// conv turns inputs into OPA values.
	conv *converter

	// writeMu serialises Upsert and Remove; decisions read set without locks.
	writeMu sync.Mutex
	set     atomic.Pointer[policySet]
}

// policySet is an immutable snapshot of the compiled policies.
type policySet struct {
	policies []*compiled // sorted by name
	revision string
}

// NewEngine returns an engine with no policies.
func NewEngine(opts Options) (*OPAEngine, error) {
	portcullis, err := normalise(opts.Data)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(portcullis)
	if err != nil {
		return nil, fmt.Errorf("encoding reference data: %w", err)
	}
	maxException, err := maxExceptionLifetime(portcullis)
	if err != nil {
		return nil, err
	}
	levels, err := riskLevels(portcullis)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	e := &OPAEngine{
		store:        newStore(portcullis),
		dataRev:      hex.EncodeToString(sum[:])[:12],
		timeout:      opts.Timeout,
		maxException: maxException,
		levels:       levels,
		conv:         &converter{},
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	e.set.Store(e.newSet(nil))
	return e, nil
}

// newStore holds the normalised reference data as OPA values: a policy
// that reads data.portcullis gets them as they are, where the default
// store would convert what it reads from Go values on every evaluation.
func newStore(portcullis map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(map[string]any{"portcullis": portcullis}, inmem.OptReturnASTValuesOnRead(true))
}

// DefaultMaxExceptionDays is the longest a PolicyException may last when
// the reference data sets no exceptions.max_days.
const DefaultMaxExceptionDays = 90

// MaxExceptionLifetime is the longest a PolicyException may last, from the
// reference data's exceptions.max_days.
func (e *OPAEngine) MaxExceptionLifetime() time.Duration { return e.maxException }

// maxExceptionLifetime reads exceptions.max_days from normalised data.
func maxExceptionLifetime(data map[string]any) (time.Duration, error) {
	section, _ := data["exceptions"].(map[string]any)
	raw, ok := section["max_days"]
	if !ok {
		return DefaultMaxExceptionDays * 24 * time.Hour, nil
	}
	n, isNumber := raw.(json.Number)
	days, err := n.Int64()
	if !isNumber || err != nil || days < 1 || days > 3650 {
		return 0, fmt.Errorf("reference data: exceptions.max_days is %v: it must be a whole number of days from 1 to 3650", raw)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// normalise turns reference data into plain JSON values (maps, slices,
// strings, json.Number...), as OPA's store wants them.
func normalise(data map[string]any) (map[string]any, error) {
	out := map[string]any{}
	if data == nil {
		return out, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding reference data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding reference data: %w", err)
	}
	return out, nil
}

// Upsert compiles p outside any lock and swaps it in.
func (e *OPAEngine) Upsert(ctx context.Context, p Policy) (string, error) {
	c, err := compile(ctx, p, e.store)
	if err != nil {
		return "", err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	byName := e.byName()
	byName[p.Name] = c
	e.set.Store(e.newSet(byName))
	return c.revision, nil
}

// Check compiles p as Upsert would, against the same data, without putting
// it in use: the admission webhook refuses what it refuses. It returns the
// revision, and a *CompileError for a policy that does not compile.
func (e *OPAEngine) Check(ctx context.Context, p Policy) (string, error) {
	c, err := compile(ctx, p, e.store)
	if err != nil {
		return "", err
	}
	return c.revision, nil
}

// Fail installs a failing entry for p unless a good version is loaded.
func (e *OPAEngine) Fail(p Policy, err error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	byName := e.byName()
	if c, ok := byName[p.Name]; ok && c.broken == nil {
		return
	}
	byName[p.Name] = &compiled{policy: p, broken: err}
	e.set.Store(e.newSet(byName))
}

// Remove drops the policy with this name, if loaded.
func (e *OPAEngine) Remove(name string) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	byName := e.byName()
	if _, ok := byName[name]; !ok {
		return
	}
	delete(byName, name)
	e.set.Store(e.newSet(byName))
}

// Revision identifies the loaded policies and the reference data.
func (e *OPAEngine) Revision() string {
	return e.set.Load().revision
}

// Loaded returns the names and revisions of the policies loaded with a
// good version; failing entries (Fail) are not among them.
func (e *OPAEngine) Loaded() map[string]string {
	out := map[string]string{}
	for _, c := range e.set.Load().policies {
		if c.broken == nil {
			out[c.policy.Name] = c.revision
		}
	}
	return out
}

func (e *OPAEngine) byName() map[string]*compiled {
	out := map[string]*compiled{}
	for _, c := range e.set.Load().policies {
		out[c.policy.Name] = c
	}
	return out
}

func (e *OPAEngine) newSet(byName map[string]*compiled) *policySet {
	names := slices.Sorted(maps.Keys(byName))
	h := sha256.New()
	fmt.Fprintf(h, "data=%s\n", e.dataRev)
	policies := make([]*compiled, 0, len(names))
	for _, name := range names {
		c := byName[name]
		policies = append(policies, c)
		fmt.Fprintf(h, "%s=%s/%s/%s/%v/%v\n", name, c.revision, c.policy.action(), c.policy.failurePolicy(),
			c.policy.Contractors, c.policy.SystemTypes)
	}
	return &policySet{policies: policies, revision: hex.EncodeToString(h.Sum(nil))[:12]}
}

// Decide evaluates the applicable policies against the input.
func (e *OPAEngine) Decide(ctx context.Context, in Input) (Decision, error) {
	if in.Contractor == nil || in.Grant == nil || in.System == nil {
		return Decision{}, ErrIncompleteInput
	}
	set := e.set.Load()
	exceptions := matchingExceptions(&in, e.maxException)
	value, err := e.conv.inputValue(&in, activeFindings(in.Findings, in.Now), exceptions)
	if err != nil {
		return Decision{}, err
	}
	opts, txn, err := e.evalOptions(ctx, value, in.Now)
	if err != nil {
		return Decision{}, err
	}
	defer e.store.Abort(ctx, txn)
	all := make([]policyResult, 0, len(set.policies))
	for _, c := range set.policies {
		if !c.policy.appliesTo(&in) {
			continue
		}
		all = append(all, e.evaluate(ctx, c, opts))
	}
	d := combine(all, exceptions)
	d.Risk = assess(contributions(all), exceptions, e.levels)
	d.Revision = set.revision
	return d, nil
}

// policyResult is what one policy contributed.
type policyResult struct {
	policy  Policy
	reasons []Reason
	err     error
}

// combine turns the policies' results into a decision: errors follow their
// failurePolicy, exceptions set reasons aside, and each policy's action
// decides where its reasons go.
func combine(results []policyResult, exceptions []accessv1alpha1.PolicyException) Decision {
	d := Decision{}
	for _, r := range results {
		reasons := r.reasons
		if r.err != nil {
			reasons = []Reason{errorReason(r.policy, r.err)}
		}
		kept := make([]Reason, 0, len(reasons))
		for _, reason := range reasons {
			if reason.Rule == RuleRisk {
				continue
			}
			if name := exempting(exceptions, reason); name != "" && reason.Code != CodePolicyError {
				reason.Exception = name
				d.Exempted = append(d.Exempted, reason)
				continue
			}
			kept = append(kept, reason)
		}
		for _, reason := range scored(kept) {
			d.place(r.policy, reason)
		}
	}
	sortReasons(d.Reasons)
	sortReasons(d.DryRun)
	sortReasons(d.Warnings)
	sortReasons(d.Exempted)
	d.Action = mostSevere(d.Reasons)
	return d
}

// contributions are the risk contributions of the policies that evaluated.
func contributions(results []policyResult) map[string][]Reason {
	out := map[string][]Reason{}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		for _, reason := range r.reasons {
			if reason.Rule == RuleRisk {
				out[r.policy.Name] = append(out[r.policy.Name], reason)
			}
		}
	}
	return out
}

// place files a reason by its policy's enforcement action. An error of a
// policy with failurePolicy Ignore becomes a warning: recorded, not enforced.
func (d *Decision) place(p Policy, r Reason) {
	if r.Code == CodePolicyError && p.failurePolicy() == accessv1alpha1.FailureIgnore {
		d.Warnings = append(d.Warnings, r)
		return
	}
	switch p.action() {
	case accessv1alpha1.EnforcementDryRun:
		d.DryRun = append(d.DryRun, r)
	case accessv1alpha1.EnforcementWarn:
		d.Warnings = append(d.Warnings, r)
	default:
		d.Reasons = append(d.Reasons, r)
	}
}

// errorReason stands for a policy that failed to evaluate: a quarantine
// reason, so that an error never passes as an allow.
func errorReason(p Policy, err error) Reason {
	return Reason{
		Policy:   p.Name,
		Rule:     RuleQuarantine,
		Code:     CodePolicyError,
		Message:  truncateMessage(fmt.Sprintf("policy %s failed to evaluate: %v", p.Name, err)),
		Severity: accessv1alpha1.SeverityHigh,
	}
}

func sortReasons(reasons []Reason) {
	sort.SliceStable(reasons, func(i, j int) bool {
		a, b := reasons[i], reasons[j]
		if ruleAction(a.Rule) != ruleAction(b.Rule) {
			return a.Rule == RuleRevoke
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.Message < b.Message
	})
}
