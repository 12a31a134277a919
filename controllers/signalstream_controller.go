package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// FinalizerSignalStream keeps a SignalStream until its stream at the
// transmitter is deleted, or DeleteGrace has passed.
const FinalizerSignalStream = "access.portcullis.dev/ssf-stream"

// Defaults of the SignalStream reconciler.
const (
	// DefaultSignalSyncInterval is how often the stream's configuration
	// and status are read from the transmitter.
	DefaultSignalSyncInterval = 5 * time.Minute
	// DefaultSignalVerifyInterval is how often verification is asked for.
	DefaultSignalVerifyInterval = 6 * time.Hour
	// DefaultSignalVerifyRetry is how long an unanswered verification
	// request waits before it is made again.
	DefaultSignalVerifyRetry = 5 * time.Minute
	// DefaultSignalDeleteGrace is how long a deleted SignalStream waits for
	// its transmitter to delete the stream before it lets go.
	DefaultSignalDeleteGrace = 10 * time.Minute
	// DefaultSignalRetry is the wait after a failure.
	DefaultSignalRetry = 30 * time.Second
)

// SignalStreamReconciler keeps a stream at each SignalStream's SSF
// transmitter configured as the spec says, receives its SETs by poll or
// push, and hands them to the SignalSink.
type SignalStreamReconciler struct {
	client.Client
	// Reader reads streams from the API server, never a cache that may
	// hold an older status without the stream's id or verification state.
	Reader      client.Reader
	Credentials *Credentials
	// Sink acts on the accepted SETs. Required.
	Sink SignalSink
	// Receivers routes pushed SETs; the manager mounts it. A nil one is
	// made (push streams then receive nothing).
	Receivers *SignalReceivers
	// ReceiverURL is the https base URL the transmitters push to
	// (--ssf-receiver-url); push streams need it.
	ReceiverURL string
	Clock       clock.PassiveClock
	Recorder    events.EventRecorder
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Interval, when set, replaces spec.delivery.pollIntervalSeconds, the
	// sync interval and the retry wait (tests).
	Interval time.Duration
	// VerifyInterval, VerifyRetry and DeleteGrace replace their defaults
	// when set.
	VerifyInterval, VerifyRetry, DeleteGrace time.Duration
	// Shard, when set, says which streams this manager runs: another
	// shard runs the rest.
	Shard *Shard

	wake    chan event.GenericEvent
	mu      sync.Mutex
	runs    map[types.UID]*streamRun
	replays map[types.UID]*ssf.MemoryReplayStore
}

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=signalstreams,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=signalstreams/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=signalstreams/finalizers,verbs=update

// Reconcile configures one stream, polls it when due, and writes what its
// receiver saw.
func (r *SignalStreamReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src := &accessv1alpha1.SignalStream{}
	if err := r.Reader.Get(ctx, req.NamespacedName, src); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone without reconcileDelete (its finalizer was removed by
			// hand): its push route must not outlive it.
			r.forgetName(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(src) {
		r.forgetName(req.Name)
		return ctrl.Result{}, nil
	}
	if !src.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, src)
	}
	if !controllerutil.ContainsFinalizer(src, FinalizerSignalStream) {
		controllerutil.AddFinalizer(src, FinalizerSignalStream)
		if err := r.Update(ctx, src); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err)
		}
	}
	before := src.DeepCopy()
	res, err := r.reconcileStream(ctx, src)
	if werr := r.writeStatus(ctx, before, src); werr != nil {
		return ctrl.Result{}, werr
	}
	return res, err
}

// reconcileStream runs the phases; a failure sets Ready False and waits.
func (r *SignalStreamReconciler) reconcileStream(ctx context.Context, src *accessv1alpha1.SignalStream) (ctrl.Result, error) {
	tokens, reason, err := r.readTokens(ctx, src)
	if err != nil || reason != "" {
		if err == nil {
			r.failed(src, reason, "")
		}
		return ctrl.Result{RequeueAfter: r.retry()}, err
	}
	if src.Spec.Delivery.Method == accessv1alpha1.SignalDeliveryPush && r.ReceiverURL == "" {
		r.failed(src, accessv1alpha1.ReasonNoReceiverURL,
			"spec.delivery.method is Push, but the manager has no receiver URL: start it with --ssf-receiver-url, or use Poll")
		return ctrl.Result{}, nil
	}
	run, err := r.runFor(ctx, src, tokens)
	if err == nil && r.syncDue(run, src) {
		err = r.sync(ctx, src, run)
	}
	if err == nil && run.poller != nil && !src.Spec.Suspend && r.pollDue(src) {
		err = r.poll(ctx, src, run)
	}
	if run != nil {
		run.observe(&src.Status)
	}
	if err != nil {
		reason, msg := classifyStreamError(src, err)
		r.failed(src, reason, msg)
		return ctrl.Result{RequeueAfter: r.retry()}, nil
	}
	src.Status.LastError, src.Status.ObservedGeneration = "", src.Generation
	ok, reason, msg := signalReady(src)
	r.setReady(src, ok, reason, msg)
	return ctrl.Result{RequeueAfter: r.next(src, run)}, nil
}

// classifyStreamError is the reason and message of a failed phase.
func classifyStreamError(src *accessv1alpha1.SignalStream, err error) (string, string) {
	ref := src.Spec.CredentialsSecretRef
	switch {
	case errors.Is(err, ssf.ErrCredentialsRefused), errors.Is(err, ssf.ErrPollTokenRefused):
		return accessv1alpha1.ReasonCredentialsRefused, fmt.Sprintf(
			"the transmitter refused the bearer token in key %q of Secret %s/%s (%v): put a valid token there, with the permission to manage streams",
			ref.Key, ref.Namespace, ref.Name, err)
	case errors.Is(err, ssf.ErrBadMetadata), errors.Is(err, errDiscovery):
		return accessv1alpha1.ReasonDiscoveryFailed, err.Error()
	}
	return accessv1alpha1.ReasonStreamFailed, err.Error()
}

// signalReady decides the Ready condition of a stream whose phases all
// succeeded.
func signalReady(src *accessv1alpha1.SignalStream) (bool, string, string) {
	st := src.Status
	switch {
	case src.Spec.Suspend:
		return true, accessv1alpha1.ReasonSuspended, "spec.suspend is set: the stream is paused at the transmitter and nothing is received"
	case st.StreamStatus == ssf.StreamDisabled:
		return false, accessv1alpha1.ReasonStreamDisabled, fmt.Sprintf("the transmitter disabled the stream (%s): it drops events; enable it at the transmitter", orNone(st.StreamStatusReason))
	case st.StreamStatus == ssf.StreamPaused:
		return false, accessv1alpha1.ReasonStreamPaused, fmt.Sprintf("the transmitter paused the stream (%s): it holds events until the stream is enabled", orNone(st.StreamStatusReason))
	case st.Verification.VerifiedAt == nil:
		return false, accessv1alpha1.ReasonVerificationPending, "the stream is configured; waiting for the transmitter's verification event"
	}
	return true, accessv1alpha1.ReasonReceiving, fmt.Sprintf("receiving %d event types by %s", len(st.EventsDelivered), src.Spec.Delivery.Method)
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return truncate(s, 256)
}

// failed records a phase that failed; msg, when set, replaces lastError.
func (r *SignalStreamReconciler) failed(src *accessv1alpha1.SignalStream, reason, msg string) {
	if msg != "" {
		src.Status.LastError = truncate(msg, 1024)
	}
	src.Status.ObservedGeneration = src.Generation
	r.setReady(src, false, reason, src.Status.LastError)
}

func (r *SignalStreamReconciler) setReady(src *accessv1alpha1.SignalStream, ok bool, reason, msg string) {
	setConditions(&src.Status.Conditions, metav1.NewTime(r.Clock.Now()),
		condition(accessv1alpha1.ConditionReady, ok, reason, msg, src.Generation))
}

// writeStatus writes the status when it changed, and records an Event
// when Ready changed.
func (r *SignalStreamReconciler) writeStatus(ctx context.Context, before, src *accessv1alpha1.SignalStream) error {
	if written, err := patchStatusLocked(ctx, r.Client, before, src); !written || err != nil {
		return err
	}
	announceReady(r.Recorder, src, before.Status.Conditions, src.Status.Conditions)
	return nil
}

// reconcileDelete deletes the stream at the transmitter, then lets the
// SignalStream go. A transmitter that refuses or cannot be reached is
// retried until DeleteGrace after the deletion; then the SignalStream goes
// all the same, with a Warning Event, so that deletion is never stuck on a
// transmitter that is gone: the stream left behind is the transmitter's to
// expire.
func (r *SignalStreamReconciler) reconcileDelete(ctx context.Context, src *accessv1alpha1.SignalStream) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(src, FinalizerSignalStream) {
		r.forget(src)
		return ctrl.Result{}, nil
	}
	err := r.deleteStream(ctx, src)
	if err != nil {
		waited := r.Clock.Since(src.DeletionTimestamp.Time)
		if waited < r.deleteGrace() {
			before := src.DeepCopy()
			src.Status.LastError = truncate("deleting the stream at the transmitter: "+err.Error(), 1024)
			return ctrl.Result{RequeueAfter: r.retry()}, r.writeStatus(ctx, before, src)
		}
		if r.Recorder != nil {
			r.Recorder.Eventf(src, nil, "Warning", "StreamNotDeleted", "Delete",
				"gave up deleting stream %s at the transmitter after %s: %s", src.Status.StreamID, waited.Round(time.Second), truncate(err.Error(), 512))
		}
	}
	r.forget(src)
	controllerutil.RemoveFinalizer(src, FinalizerSignalStream)
	if err := r.Update(ctx, src); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// deleteStream deletes the stream at the transmitter; nil when there is
// none.
func (r *SignalStreamReconciler) deleteStream(ctx context.Context, src *accessv1alpha1.SignalStream) error {
	if src.Status.StreamID == "" {
		return nil
	}
	tokens, reason, err := r.readTokens(ctx, src)
	if err != nil {
		return err
	}
	if reason != "" {
		return errors.New(src.Status.LastError)
	}
	run, err := r.runFor(ctx, src, tokens)
	if err != nil {
		return err
	}
	if err := run.client.Delete(ctx, src.Status.StreamID); err != nil && !errors.Is(err, ssf.ErrStreamNotFound) {
		return err
	}
	return nil
}

// forget drops what the process holds for a stream.
func (r *SignalStreamReconciler) forget(src *accessv1alpha1.SignalStream) {
	r.mu.Lock()
	delete(r.runs, src.UID)
	delete(r.replays, src.UID)
	r.mu.Unlock()
	r.Receivers.remove(src.Name)
	if r.Metrics != nil {
		r.Metrics.SignalStreams.Forget(src.Name)
	}
}

// forgetName drops what the process holds for a stream known only by
// name.
func (r *SignalStreamReconciler) forgetName(name string) {
	r.mu.Lock()
	for uid, run := range r.runs {
		if run.name == name {
			delete(r.runs, uid)
			delete(r.replays, uid)
		}
	}
	r.mu.Unlock()
	r.Receivers.remove(name)
	if r.Metrics != nil {
		r.Metrics.SignalStreams.Forget(name)
	}
}

// SetupWithManager registers the reconciler, the receivers' leader switch
// and the channel through which receivers wake a stream to write status.
func (r *SignalStreamReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Sink == nil {
		return errors.New("the SignalStream reconciler needs a SignalSink: set ReconcilerOptions.SignalSink")
	}
	if r.Reader == nil {
		r.Reader = mgr.GetAPIReader()
	}
	if r.Receivers == nil {
		r.Receivers = NewSignalReceivers()
	}
	r.wake = make(chan event.GenericEvent, 1024)
	r.runs, r.replays = map[types.UID]*streamRun{}, map[types.UID]*ssf.MemoryReplayStore{}
	if err := mgr.Add(r.Receivers); err != nil {
		return err
	}
	// Labels say which shard runs the stream (Shard.Owns).
	changed := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !e.ObjectNew.GetDeletionTimestamp().Equal(e.ObjectOld.GetDeletionTimestamp())
		},
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.SignalStream{}, builder.WithPredicates(changed)).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("signalstream").
		Complete(r)
}

// wakeStream asks for a reconcile of the stream name, without blocking: a
// full channel means reconciles are queued already.
func (r *SignalStreamReconciler) wakeStream(name string) {
	obj := &accessv1alpha1.SignalStream{ObjectMeta: metav1.ObjectMeta{Name: name}}
	select {
	case r.wake <- event.GenericEvent{Object: obj}:
	default:
	}
}

// isNotFound is apierrors.IsNotFound, for readKey.
func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
