package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// verify asks for a verification event after a reconfiguration, when none
// was asked for, when the last went unanswered for VerifyRetry, and every
// VerifyInterval; never sooner than the transmitter's
// min_verification_interval after the last request.
func (r *SignalStreamReconciler) verify(ctx context.Context, src *accessv1alpha1.SignalStream, run *streamRun, cfg *ssf.StreamConfig, changed bool) error {
	if run.client.Metadata.VerificationEndpoint == "" {
		now := metav1.NewTime(r.Clock.Now())
		src.Status.Verification = accessv1alpha1.SignalStreamVerification{VerifiedAt: &now}
		return nil
	}
	v := &src.Status.Verification
	now := r.Clock.Now()
	var since time.Duration = 1<<63 - 1
	if v.RequestedAt != nil {
		since = now.Sub(v.RequestedAt.Time)
	}
	due := changed || v.RequestedAt == nil || v.State == "" || since >= r.verifyInterval() ||
		(v.VerifiedAt == nil && since >= r.verifyRetry())
	if !due || since < time.Duration(cfg.MinVerificationInterval)*time.Second {
		return nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	state := hex.EncodeToString(b[:])
	run.expect(state)
	if err := run.client.Verify(ctx, ssf.VerificationRequest{StreamID: cfg.StreamID, State: state}); err != nil {
		return err
	}
	at := metav1.NewTime(now)
	*v = accessv1alpha1.SignalStreamVerification{RequestedAt: &at, State: state}
	return nil
}

// poll polls once, and again at once while the transmitter has more.
func (r *SignalStreamReconciler) poll(ctx context.Context, src *accessv1alpha1.SignalStream, run *streamRun) error {
	defer func() {
		now := metav1.NewTime(r.Clock.Now())
		src.Status.LastPollTime = &now
	}()
	for range maxPollRounds {
		res, err := run.poller.Poll(ctx)
		r.countPoll(src.Name, err)
		if err != nil {
			return err
		}
		run.counted(res.Received, res.Refused)
		if !res.MoreAvailable {
			return nil
		}
	}
	return nil
}

func (r *SignalStreamReconciler) countPoll(name string, err error) {
	if r.Metrics == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	r.Metrics.SignalStreams.Polls.WithLabelValues(name, result).Inc()
}

func (r *SignalStreamReconciler) pollDue(src *accessv1alpha1.SignalStream) bool {
	t := src.Status.LastPollTime
	return t == nil || src.Status.ObservedGeneration != src.Generation || r.Clock.Since(t.Time) >= r.pollInterval(src)
}

// next is how long until the stream needs the reconciler again.
func (r *SignalStreamReconciler) next(src *accessv1alpha1.SignalStream, run *streamRun) time.Duration {
	wait := r.syncInterval()
	if src.Status.Verification.VerifiedAt == nil {
		wait = min(wait, r.retry())
	}
	if run != nil && run.poller != nil && !src.Spec.Suspend {
		wait = min(wait, r.pollInterval(src))
	}
	return max(wait, minRequeue)
}

func (r *SignalStreamReconciler) pollInterval(src *accessv1alpha1.SignalStream) time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return time.Duration(max(src.Spec.Delivery.PollIntervalSeconds, 5)) * time.Second
}

func (r *SignalStreamReconciler) syncInterval() time.Duration {
	return durationOr(r.Interval, DefaultSignalSyncInterval)
}

func (r *SignalStreamReconciler) retry() time.Duration {
	return durationOr(r.Interval, DefaultSignalRetry)
}

func (r *SignalStreamReconciler) verifyInterval() time.Duration {
	return durationOr(r.VerifyInterval, DefaultSignalVerifyInterval)
}

func (r *SignalStreamReconciler) verifyRetry() time.Duration {
	return durationOr(r.VerifyRetry, DefaultSignalVerifyRetry)
}

func (r *SignalStreamReconciler) deleteGrace() time.Duration {
	return durationOr(r.DeleteGrace, DefaultSignalDeleteGrace)
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
