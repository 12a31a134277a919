package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// AccessPolicyReconciler compiles an AccessPolicy's Rego source and reports
// the result: Ready=True with the compiled revision, or Ready=False with
// reason CompileError and policy:line:col of each problem.
type AccessPolicyReconciler struct {
	// Recorder records an Event on each change of the Ready condition.
	Recorder events.EventRecorder
	client.Client
	// APIReader reads ConfigMaps straight from the API server, so the
	// manager does not cache every ConfigMap of the cluster.
	APIReader client.Reader
	Clock     clock.PassiveClock
	// Engine receives every compiled policy; decisions use it.
	Engine  policy.Engine
	Metrics *metrics.Metrics
	// Sync learns of every attempt, so grants wait for a complete policy set.
	Sync *PolicySync
	// LastGood, when set, keeps each policy's last good source across
	// restarts.
	LastGood *LastGoodStore
	// EvalErrors are the policies' recent evaluation errors, which the
	// grant reconciler records.
	EvalErrors *EvaluationErrors
	// Shard, when set, says which policies this manager owns: it compiles
	// every policy for its own decisions, but writes the status, the
	// Events and the last good source only of those it owns.
	Shard *Shard
}

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accesspolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=accesspolicies/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch

// Reconcile compiles one AccessPolicy and writes its status.
func (r *AccessPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pol := &accessv1alpha1.AccessPolicy{}
	if live, err := fetch(ctx, r.Client, req, pol); !live {
		if err == nil {
			// Gone or going: its reasons must stop counting now.
			r.Engine.Remove(req.Name)
			r.Sync.Forget(req.Name)
			r.EvalErrors.Forget(req.Name)
			r.Metrics.PoliciesLoaded.Set(float64(len(r.Engine.Loaded())))
			// A policy already gone has no labels left to name its
			// owner: every shard deletes its saved source (a no-op for all
			// but the first).
			if r.LastGood != nil {
				err = r.LastGood.Delete(ctx, req.Name)
			}
		}
		return ctrl.Result{}, err
	}
	before := pol.DeepCopy()
	compiled, permanent, err := r.computeStatus(ctx, pol, metav1.NewTime(r.Clock.Now()))
	if err == nil {
		r.Sync.Attempted(pol.Name, pol.Generation)
	}
	owned := r.Shard.Owns(pol)
	if owned {
		err = errors.Join(err, r.patchAndAnnounce(ctx, before, pol))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if permanent != nil {
		// The source must change before the policy can compile: wait for
		// that change instead of retrying.
		return ctrl.Result{}, reconcile.TerminalError(permanent)
	}
	var result ctrl.Result
	if c := meta.FindStatusCondition(pol.Status.Conditions, accessv1alpha1.ConditionReady); c != nil && c.Reason == accessv1alpha1.ReasonEvaluationError {
		// Refresh the count, and clear the condition once the errors stop.
		result.RequeueAfter = time.Minute
	}
	// The policy is in use already; saving its source is retried with
	// backoff until it succeeds.
	if r.LastGood != nil && compiled != "" && owned {
		return result, r.LastGood.Save(ctx, pol.Name, compiled, pol.Status.Revision)
	}
	return result, nil
}

// computeStatus loads and compiles the source. It returns the source when
// it compiled, and the compile error as permanent when the source itself
// is at fault.
func (r *AccessPolicyReconciler) computeStatus(ctx context.Context, pol *accessv1alpha1.AccessPolicy, now metav1.Time) (compiled string, permanent, err error) {
	source, missing, err := r.source(ctx, pol)
	if err != nil {
		return "", nil, err
	}
	var ready metav1.Condition
	switch {
	case missing != "":
		inUse, ferr := r.fallBack(ctx, pol, errors.New(missing))
		if ferr != nil {
			return "", nil, ferr
		}
		pol.Status.Revision = inUse
		ready = condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonConfigMapNotFound,
			inUseMessage(missing, inUse, pol), pol.Generation)
	default:
		revision, cerr := r.load(ctx, pol, source)
		if cerr != nil {
			permanent = cerr
			inUse, ferr := r.fallBack(ctx, pol, cerr)
			if ferr != nil {
				return "", nil, ferr
			}
			pol.Status.Revision = inUse
			ready = condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonCompileError,
				truncate(inUseMessage(cerr.Error(), inUse, pol), 32768), pol.Generation)
			break
		}
		compiled = source
		if pol.Status.Revision != revision {
			r.EvalErrors.Forget(pol.Name)
		}
		pol.Status.Revision = revision
		ready = r.compiledCondition(pol, revision)
	}
	setConditions(&pol.Status.Conditions, now, ready)
	pol.Status.ObservedGeneration = pol.Generation
	return compiled, permanent, nil
}

// compiledCondition is Ready=True for a compiled revision, unless it failed
// to evaluate in recent decisions.
func (r *AccessPolicyReconciler) compiledCondition(pol *accessv1alpha1.AccessPolicy, revision string) metav1.Condition {
	count, last, first, at, ok := r.EvalErrors.Recent(pol.Name)
	if !ok {
		return condition(accessv1alpha1.ConditionReady, true, accessv1alpha1.ReasonCompiled,
			fmt.Sprintf("revision %s compiled and in use", revision), pol.Generation)
	}
	failure := pol.Spec.FailurePolicy
	if failure == "" {
		failure = accessv1alpha1.FailureQuarantine
	}
	return condition(accessv1alpha1.ConditionReady, false, accessv1alpha1.ReasonEvaluationError, truncate(fmt.Sprintf(
		"revision %s compiled and is in use, but failed to evaluate in %d decision(s) since %s, the last at %s: %s; "+
			"the grants concerned followed its failurePolicy, %s", revision, count,
		first.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), last, failure), 4096), pol.Generation)
}

// load compiles the policy into the engine. A policy that fails to compile
// leaves its last good version in use.
func (r *AccessPolicyReconciler) load(ctx context.Context, pol *accessv1alpha1.AccessPolicy, source string) (string, error) {
	p, err := policy.FromAPI(pol, source)
	if err == nil {
		var revision string
		revision, err = r.Engine.Upsert(ctx, p)
		if err == nil {
			r.Metrics.PoliciesLoaded.Set(float64(len(r.Engine.Loaded())))
			return revision, nil
		}
	}
	r.Metrics.PolicyCompileErrors.WithLabelValues(pol.Name).Inc()
	return "", err
}

// fallBack keeps a policy whose current source cannot be used in force:
// its last good version, in memory or saved before a restart, stays in
// use; without one, the grants it applies to follow its failurePolicy. It
// returns the revision in use, or "".
func (r *AccessPolicyReconciler) fallBack(ctx context.Context, pol *accessv1alpha1.AccessPolicy, cause error) (string, error) {
	if revision, ok := r.Engine.Loaded()[pol.Name]; ok {
		return revision, nil
	}
	if r.LastGood != nil {
		source, found, err := r.LastGood.Load(ctx, pol.Name)
		if err != nil {
			return "", err
		}
		if p, perr := policy.FromAPI(pol, source); found && perr == nil {
			if revision, err := r.Engine.Upsert(ctx, p); err == nil {
				r.Metrics.PoliciesLoaded.Set(float64(len(r.Engine.Loaded())))
				return revision, nil
			}
		}
	}
	p, err := policy.FromAPI(pol, "")
	if err != nil {
		// A selector that does not parse selects nobody it could name:
		// the failing entry applies to every contractor instead.
		p = policy.Policy{Name: pol.Name, Action: pol.Spec.EnforcementAction, FailurePolicy: pol.Spec.FailurePolicy,
			SystemTypes: pol.Spec.SystemTypes}
		cause = errors.Join(cause, err)
	}
	r.Engine.Fail(p, cause)
	return "", nil
}

// inUseMessage says what failed and what is in force instead.
func inUseMessage(problem, inUse string, pol *accessv1alpha1.AccessPolicy) string {
	if inUse != "" {
		return fmt.Sprintf("%s (revision %s stays in use)", problem, inUse)
	}
	failure := pol.Spec.FailurePolicy
	if failure == "" {
		failure = accessv1alpha1.FailureQuarantine
	}
	return fmt.Sprintf("%s (no version of this policy has compiled: the grants it applies to follow its failurePolicy, %s)", problem, failure)
}

// source returns the policy's Rego source, or a message saying which
// ConfigMap or key is missing.
func (r *AccessPolicyReconciler) source(ctx context.Context, pol *accessv1alpha1.AccessPolicy) (source, missing string, err error) {
	ref := pol.Spec.RegoFrom
	if ref == nil {
		return pol.Spec.Rego, "", nil
	}
	cm := &corev1.ConfigMap{}
	err = r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, cm)
	if apierrors.IsNotFound(err) {
		return "", fmt.Sprintf("ConfigMap %s/%s does not exist: create it or fix spec.regoFrom", ref.Namespace, ref.Name), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("getting ConfigMap %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	src, ok := cm.Data[ref.Key]
	if !ok {
		return "", fmt.Sprintf("ConfigMap %s/%s has no key %q: add it or fix spec.regoFrom.key", ref.Namespace, ref.Name, ref.Key), nil
	}
	return src, "", nil
}

// SetupWithManager registers the reconciler. It watches ConfigMaps by
// metadata only and re-compiles the policies whose source one holds.
func (r *AccessPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	if r.EvalErrors == nil {
		r.EvalErrors = NewEvaluationErrors(r.Clock)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.AccessPolicy{}).
		WatchesRawSource(r.EvalErrors.source()).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, obj client.Object) []reconcile.Request {
				return listRequests(ctx, c, &accessv1alpha1.AccessPolicyList{},
					client.MatchingFields{kube.IndexConfigMap: obj.GetNamespace() + "/" + obj.GetName()})
			})).
		Named("accesspolicy").
		Complete(r)
}

// patchAndAnnounce writes the status and, once it is written, records an
// Event if the Ready condition changed.
func (r *AccessPolicyReconciler) patchAndAnnounce(ctx context.Context, before, obj *accessv1alpha1.AccessPolicy) error {
	if err := patchStatus(ctx, r.Client, before, obj); err != nil {
		return err
	}
	announceReady(r.Recorder, obj, before.Status.Conditions, obj.Status.Conditions)
	return nil
}
