package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// SignInIngester stores sign-ins as evidence: signals.Ingester, which the
// sign-in endpoint shares.
type SignInIngester interface {
	Ingest(ctx context.Context, body []byte) (signals.Result, error)
}

// SignInSourceReconciler polls identity providers' sign-in logs and hands
// their sign-ins to the ingester. Each poll resumes from the cursor in the
// source's status, read from the API server itself, and writes the cursor
// back only after the sign-ins before it are stored, with an optimistic
// lock: a restart or a new leader reads every record once.
type SignInSourceReconciler struct {
	client.Client
	// Reader reads sources from the API server, never a cache that may
	// hold an older cursor.
	Reader      client.Reader
	Credentials *Credentials
	Connectors  connectors.Registry
	Ingester    SignInIngester
	Clock       clock.PassiveClock
	Recorder    events.EventRecorder
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Interval, when set, replaces spec.pollIntervalSeconds (tests).
	Interval time.Duration
	// MaxRecords bounds the records one poll holds; default
	// DefaultSourceMaxRecords.
	MaxRecords int
	// PollTimeout bounds one poll; default DefaultSourcePollTimeout.
	PollTimeout time.Duration
	// Shard, when set, says which sources this manager polls: another
	// shard polls the rest.
	Shard *Shard
}

// The bounds of one poll.
const (
	DefaultSourceMaxRecords  = 5000
	DefaultSourcePollTimeout = 2 * time.Minute
)

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=signinsources,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=signinsources/status,verbs=get;patch;update

// Reconcile polls one source when its poll is due.
func (r *SignInSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src := &accessv1alpha1.SignInSource{}
	if err := r.Reader.Get(ctx, req.NamespacedName, src); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(src) {
		r.forget(req.Name)
		return ctrl.Result{}, nil
	}
	if !src.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	before := src.DeepCopy()
	if src.Spec.Suspend {
		src.Status.ObservedGeneration = src.Generation
		r.setReady(src, true, accessv1alpha1.ReasonSuspended, "spec.suspend is set: not polling; the cursor is kept")
		return ctrl.Result{}, r.writeStatus(ctx, before, src)
	}
	if wait := r.untilDue(src, now); wait > 0 && src.Status.ObservedGeneration == src.Generation {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	err := r.pollOnce(ctx, src)
	if werr := r.writeStatus(ctx, before, src); werr != nil {
		// The cursor did not move: the next poll reads the same records,
		// which the ingester recognises.
		return ctrl.Result{}, werr
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	// lastPollTime has whole seconds: the next poll may be due already.
	return ctrl.Result{RequeueAfter: max(r.untilDue(src, r.Clock.Now()), minRequeue)}, nil
}

// minRequeue is the least wait before a source is polled again.
const minRequeue = 100 * time.Millisecond

// pollOnce polls and records the outcome in the status. It returns only
// errors of the controller's own, which are retried with backoff.
func (r *SignInSourceReconciler) pollOnce(ctx context.Context, src *accessv1alpha1.SignInSource) error {
	target, reason, err := r.resolve(ctx, src)
	if err != nil || reason != "" {
		if err == nil {
			r.failed(src, reason, "")
		}
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.pollTimeout())
	defer cancel()
	res, err := r.poll(ctx, src, target)
	if err != nil {
		reason := accessv1alpha1.ReasonPollFailed
		if errors.Is(err, connectors.ErrCredentials) {
			reason = accessv1alpha1.ReasonCredentialsRefused
		}
		r.failed(src, reason, err.Error())
		return nil
	}
	r.succeeded(src, res)
	return nil
}

// catchUpPause is the pause between the polls of a source that is behind.
const catchUpPause = time.Second

// untilDue is how long until the source's next poll: an interval after the
// last, or catchUpPause when the last poll succeeded but stopped more than
// an interval short of the log's end (a busy log, or the way back from an
// outage), so that the source catches up at the pace the provider answers.
func (r *SignInSourceReconciler) untilDue(src *accessv1alpha1.SignInSource, now time.Time) time.Duration {
	st := src.Status
	if st.LastPollTime == nil {
		return 0
	}
	next := st.LastPollTime.Add(r.interval(src))
	if st.LastSuccessTime != nil && st.LastSuccessTime.Equal(st.LastPollTime) &&
		time.Duration(st.LagSeconds)*time.Second > r.interval(src) {
		next = st.LastPollTime.Add(catchUpPause)
	}
	return max(next.Sub(now), 0)
}

func (r *SignInSourceReconciler) interval(src *accessv1alpha1.SignInSource) time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return time.Duration(max(src.Spec.PollIntervalSeconds, 10)) * time.Second
}

func (r *SignInSourceReconciler) pollTimeout() time.Duration {
	if r.PollTimeout > 0 {
		return r.PollTimeout
	}
	return DefaultSourcePollTimeout
}

// logTarget is what a poll reads: the system, its log and credentials.
type logTarget struct {
	system *accessv1alpha1.ConnectedSystem
	log    connectors.SignInLog
	creds  map[string][]byte
}

// resolve finds the source's system, its connector's log and the
// credentials. A reason says why the source cannot poll: a person must
// create or fix something, and the message of failed says what.
func (r *SignInSourceReconciler) resolve(ctx context.Context, src *accessv1alpha1.SignInSource) (logTarget, string, error) {
	var t logTarget
	sys := &accessv1alpha1.ConnectedSystem{}
	if err := r.Get(ctx, client.ObjectKey{Name: src.Spec.System}, sys); err != nil {
		if apierrors.IsNotFound(err) {
			src.Status.LastError = fmt.Sprintf("ConnectedSystem %q does not exist: create it or fix spec.system", src.Spec.System)
			return t, accessv1alpha1.ReasonConnectedSystemNotFound, nil
		}
		return t, "", err
	}
	t.system = sys
	// For fails only for a type without a connector, which keeps no log
	// either.
	c, _ := r.Connectors.For(sys.Spec.Type)
	log, ok := c.(connectors.SignInLog)
	if !ok {
		src.Status.LastError = fmt.Sprintf("ConnectedSystem %q is of type %s, which keeps no sign-in log Portcullis reads: name an okta, entra or google system",
			sys.Name, sys.Spec.Type)
		return t, accessv1alpha1.ReasonNoSignInLog, nil
	}
	t.log = log
	ref, field := sys.Spec.CredentialsSecretRef, "the system's spec.credentialsSecretRef"
	if src.Spec.CredentialsSecretRef != nil {
		ref, field = src.Spec.CredentialsSecretRef, "spec.credentialsSecretRef"
	}
	creds, err := r.Credentials.ReadRef(ctx, ref)
	t.creds = creds
	switch {
	case errors.Is(err, ErrSecretNamespace):
		src.Status.LastError = err.Error()
		return t, accessv1alpha1.ReasonSecretNamespaceNotAllowed, nil
	case apierrors.IsNotFound(err):
		src.Status.LastError = fmt.Sprintf("Secret %s/%s does not exist: create it or fix %s", ref.Namespace, ref.Name, field)
		return t, accessv1alpha1.ReasonSecretNotFound, nil
	case err != nil:
		return t, "", err
	}
	if missing := connectors.MissingCredentials(c, sys, t.creds); len(missing) > 0 {
		src.Status.LastError = fmt.Sprintf("the credentials named by %s lack the key(s) %s that a %s system needs",
			field, strings.Join(missing, ", "), sys.Spec.Type)
		return t, accessv1alpha1.ReasonCredentialsIncomplete, nil
	}
	return t, "", nil
}

// failed records a poll that did not happen or failed; msg, when set,
// replaces status.lastError.
func (r *SignInSourceReconciler) failed(src *accessv1alpha1.SignInSource, reason, msg string) {
	now := metav1.NewTime(r.Clock.Now())
	if msg != "" {
		src.Status.LastError = truncate(msg, 1024)
	}
	src.Status.LastPollTime = &now
	src.Status.ObservedGeneration = src.Generation
	r.setReady(src, false, reason, src.Status.LastError)
	if r.Metrics != nil {
		r.Metrics.SourcePolls.WithLabelValues(src.Name, "error").Inc()
	}
}

// succeeded records a successful poll.
func (r *SignInSourceReconciler) succeeded(src *accessv1alpha1.SignInSource, res pollResult) {
	now := metav1.NewTime(r.Clock.Now())
	st := &src.Status
	st.Cursor, st.LastPollTime, st.LastSuccessTime, st.LastError = res.cursor, &now, &now, ""
	st.LagSeconds = int64(max(now.Sub(res.cursor.Until.Time), 0) / time.Second)
	st.Counts.SignIns += int64(res.result.Received)
	st.Counts.Accepted += int64(res.result.Accepted)
	st.Counts.Rejected += int64(len(res.result.Rejected))
	st.Counts.Skipped += int64(res.skipped)
	st.ObservedGeneration = src.Generation
	msg := fmt.Sprintf("read the sign-in log of %s up to %s", src.Spec.System, res.cursor.Until.UTC().Format(time.RFC3339))
	r.setReady(src, true, accessv1alpha1.ReasonPolling, msg)
	if m := r.Metrics; m != nil {
		m.SourcePolls.WithLabelValues(src.Name, "success").Inc()
		m.SourceRecords.WithLabelValues(src.Name, "accepted").Add(float64(res.result.Accepted))
		m.SourceRecords.WithLabelValues(src.Name, "duplicate").Add(float64(res.result.Duplicates))
		m.SourceRecords.WithLabelValues(src.Name, "rejected").Add(float64(len(res.result.Rejected)))
		m.SourceRecords.WithLabelValues(src.Name, "skipped").Add(float64(res.skipped))
		m.SourceLag.WithLabelValues(src.Name).Set(float64(st.LagSeconds))
		m.SourceLastSuccess.WithLabelValues(src.Name).Set(float64(now.Unix()))
	}
}

func (r *SignInSourceReconciler) setReady(src *accessv1alpha1.SignInSource, ok bool, reason, msg string) {
	setConditions(&src.Status.Conditions, metav1.NewTime(r.Clock.Now()),
		condition(accessv1alpha1.ConditionReady, ok, reason, msg, src.Generation))
}

// writeStatus writes the status, when it changed, with an optimistic
// lock, so that a manager that lost its leadership cannot move the cursor
// back, and records an Event when Ready changed.
func (r *SignInSourceReconciler) writeStatus(ctx context.Context, before, src *accessv1alpha1.SignInSource) error {
	if written, err := patchStatusLocked(ctx, r.Client, before, src); !written || err != nil {
		return err
	}
	announceReady(r.Recorder, src, before.Status.Conditions, src.Status.Conditions)
	return nil
}

// forget drops the metrics of a source that is gone or another shard's.
func (r *SignInSourceReconciler) forget(name string) {
	if m := r.Metrics; m != nil {
		m.SourcePolls.DeletePartialMatch(map[string]string{"source": name})
		m.SourceRecords.DeletePartialMatch(map[string]string{"source": name})
		m.SourceLag.DeleteLabelValues(name)
		m.SourceLastSuccess.DeleteLabelValues(name)
	}
}

// SetupWithManager registers the reconciler. Status writes do not wake it
// (the generation does not change); polls come from RequeueAfter, and a
// change to a ConnectedSystem wakes the sources that read it.
func (r *SignInSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		// Labels say which shard polls the source (Shard.Owns).
		For(&accessv1alpha1.SignInSource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&accessv1alpha1.ConnectedSystem{}, handler.EnqueueRequestsFromMapFunc(r.sourcesOf),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("signinsource").
		Complete(r)
}

// sourcesOf maps a ConnectedSystem to the sources that read it.
func (r *SignInSourceReconciler) sourcesOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var list accessv1alpha1.SignInSourceList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, s := range list.Items {
		if s.Spec.System == obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
		}
	}
	return out
}
