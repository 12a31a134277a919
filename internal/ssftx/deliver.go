package ssftx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// Deliverer pushes pending events to the receivers of enabled push
// streams: one worker per stream with pending events, so a slow or broken
// receiver delays only its own stream. Each worker sends its stream's
// events in order, one at a time, and removes an event only once the
// receiver answered 202 (delivered) or 400 with an RFC 8935 error
// (refused, not retried); any other outcome keeps it and backs off,
// doubling from Limits.BackoffInitial to Limits.BackoffMax. It wakes on
// Announce and every Limits.RescanInterval. Run it on the leader only.
type Deliverer struct {
	t *Transmitter

	mu      sync.Mutex
	workers map[string]*worker
}

type worker struct {
	// again: the scanner found events while the worker was busy.
	again bool
}

var _ manager.LeaderElectionRunnable = (*Deliverer)(nil)
var _ manager.Runnable = (*Deliverer)(nil)

// Deliverer returns the Transmitter's push delivery, a manager.Runnable.
func (t *Transmitter) Deliverer() *Deliverer {
	return &Deliverer{t: t, workers: map[string]*worker{}}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: two
// replicas pushing the same outbox would send SETs twice.
func (d *Deliverer) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable; it returns when ctx ends, after its
// workers.
func (d *Deliverer) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		d.scan(ctx, &wg)
		timer := d.t.cfg.Clock.NewTimer(d.t.cfg.Limits.RescanInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-d.t.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// scan starts a worker for every enabled push stream with pending events.
func (d *Deliverer) scan(ctx context.Context, wg *sync.WaitGroup) {
	log := ctrl.LoggerFrom(ctx)
	streams, bad, err := d.t.store.list(ctx, "")
	if err != nil {
		log.Error(err, "Cannot list the SSF streams")
		return
	}
	for _, err := range bad {
		log.Error(err, "Skipping an unreadable SSF stream Secret")
	}
	for _, st := range streams {
		d.t.cfg.Metrics.setPending(st.Config.StreamID, len(st.Outbox))
		if pushable(st) {
			d.ensure(ctx, wg, st.Config.StreamID)
		}
	}
}

func pushable(st *stream) bool {
	return st.Status.Status == ssf.StreamEnabled && st.Config.Delivery.Method == ssf.MethodPush && len(st.Outbox) > 0
}

func (d *Deliverer) ensure(ctx context.Context, wg *sync.WaitGroup, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.workers[id]; ok {
		w.again = true
		return
	}
	w := &worker{}
	d.workers[id] = w
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.run(ctx, id, w)
	}()
}

// run delivers a stream's events until none is pending or ctx ends.
func (d *Deliverer) run(ctx context.Context, id string, w *worker) {
	lim := d.t.cfg.Limits
	backoff := lim.BackoffInitial
	for ctx.Err() == nil {
		idle, failed := d.deliverNext(ctx, id)
		if failed {
			if !d.sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, lim.BackoffMax)
			continue
		}
		backoff = lim.BackoffInitial
		if idle && d.finish(id, w) {
			return
		}
	}
	d.finish(id, w)
}

// finish removes the worker unless the scanner asked for another round.
func (d *Deliverer) finish(id string, w *worker) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.again {
		w.again = false
		return false
	}
	delete(d.workers, id)
	return true
}

func (d *Deliverer) sleep(ctx context.Context, wait time.Duration) bool {
	timer := d.t.cfg.Clock.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return true
	}
}

// outcome is what a push came to.
type outcome struct {
	result string // ResultDelivered, ResultRefused or ResultFailed
	code   string // the refusal's error code
	reason string // why it failed, for people; no secrets
}

// deliverNext pushes the stream's oldest pending event. idle: nothing to
// push; failed: the push failed and the event stays.
func (d *Deliverer) deliverNext(ctx context.Context, id string) (idle, failed bool) {
	log := ctrl.LoggerFrom(ctx).WithValues("stream", id)
	st, err := d.t.store.get(ctx, "", id)
	if errors.Is(err, errStreamNotFound) {
		d.t.cfg.Metrics.forget(id)
		return true, false
	}
	if err != nil {
		log.Error(err, "Cannot read an SSF stream")
		return false, true
	}
	if !pushable(st) {
		return true, false
	}
	e := st.Outbox[0]
	out := d.push(ctx, st, e)
	log = log.WithValues("receiver", st.Receiver, "jti", e.JTI)
	d.t.cfg.Metrics.addDeliveries(st.Receiver, out.result, 1)
	updated, err := d.t.store.update(ctx, "", id, func(st *stream) (bool, error) {
		switch out.result {
		case ResultDelivered:
			st.Status.LastFailure = ""
			d.t.settle(st, []string{e.JTI}, nil)
		case ResultRefused:
			st.Status.LastFailure = ""
			d.t.settle(st, nil, map[string]string{e.JTI: out.code})
		default:
			if st.Status.LastFailure == out.reason {
				return false, nil
			}
			st.Status.LastFailure = out.reason
		}
		return true, nil
	})
	if err != nil && !errors.Is(err, errStreamNotFound) {
		log.Error(err, "Cannot record an SSF delivery; the SET will be sent again with the same jti")
		return false, true
	}
	if updated != nil {
		d.t.cfg.Metrics.setPending(id, len(updated.Outbox))
	}
	switch out.result {
	case ResultRefused:
		log.Info("An SSF receiver refused a SET; it is not sent again", "code", out.code)
	case ResultFailed:
		log.V(1).Info("Pushing a SET failed; retrying later", "reason", out.reason)
		return false, true
	}
	return false, false
}

// push signs and POSTs one SET.
func (d *Deliverer) push(ctx context.Context, st *stream, e entry) outcome {
	token, err := d.t.sign(ctx, st, e)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot sign a SET", "stream", st.Config.StreamID)
		return outcome{result: ResultFailed, reason: "cannot sign the SET"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.Config.Delivery.EndpointURL, bytes.NewReader(token))
	if err != nil {
		return outcome{result: ResultFailed, reason: "invalid endpoint URL"}
	}
	req.Header.Set("Content-Type", ssf.ContentTypeSecEventJWT)
	req.Header.Set("Accept", "application/json")
	if h := st.Config.Delivery.AuthorizationHeader; h != "" {
		req.Header.Set("Authorization", h)
	}
	resp, err := d.t.push.Do(req)
	if err != nil {
		return outcome{result: ResultFailed, reason: networkReason(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch resp.StatusCode {
	case http.StatusAccepted:
		return outcome{result: ResultDelivered}
	case http.StatusBadRequest:
		var refusal ssf.Error
		if json.Unmarshal(body, &refusal) == nil && refusal.Code != "" {
			return outcome{result: ResultRefused, code: truncate(refusal.Code, 64)}
		}
	}
	return outcome{result: ResultFailed, reason: fmt.Sprintf("HTTP %d", resp.StatusCode)}
}

// networkReason is a failed request's error without its URL (which could
// carry a secret in its query).
func networkReason(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return truncate(err.Error(), 256)
}
