package ssftx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// pollRequest is an RFC 8936 §2.4 poll request.
type pollRequest struct {
	Ack               []string             `json:"ack"`
	SetErrs           map[string]ssf.Error `json:"setErrs"`
	MaxEvents         *int                 `json:"maxEvents"`
	ReturnImmediately bool                 `json:"returnImmediately"`
}

// pollResponse is an RFC 8936 §2.5 poll response.
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// sign makes the SET of an outbox entry, issued now, for st's receiver.
func (t *Transmitter) sign(ctx context.Context, st *stream, e entry) ([]byte, error) {
	keys, err := t.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	signer := ssf.Signer{Issuer: t.cfg.Issuer, Key: keys.active, Clock: t.cfg.Clock}
	sub := e.Subject
	return signer.Sign(ssf.SET{Audience: []string{st.Receiver}, JTI: e.JTI, TxnID: e.Txn, Subject: &sub,
		Events: map[string]json.RawMessage{e.Type: e.Body}})
}

// settle takes acknowledged and refused entries off the outbox; both join
// the recently delivered (settled) jtis, refused ones are also counted with
// their error code. It returns how many of each it removed.
func (t *Transmitter) settle(st *stream, acked []string, refused map[string]string) (nAcked, nRefused int) {
	kept := st.Outbox[:0:0]
	for _, e := range st.Outbox {
		code, isRefused := refused[e.JTI]
		switch {
		case slices.Contains(acked, e.JTI):
			nAcked++
			st.Delivered = append(st.Delivered, e.JTI)
		case isRefused:
			nRefused++
			st.Delivered = append(st.Delivered, e.JTI) // settled: a retried Announce must not queue it again
			st.Status.Refused++
			st.Status.LastErrorCode = truncate(code, 64)
		default:
			kept = append(kept, e)
		}
	}
	st.Outbox = kept
	if over := len(st.Delivered) - t.cfg.Limits.MaxDelivered; over > 0 {
		st.Delivered = slices.Delete(st.Delivered, 0, over)
	}
	if nAcked+nRefused > 0 {
		st.Status.OutboxFull = false // Announce sets it again if still full
	}
	return nAcked, nRefused
}

// poll serves POST /ssf/poll/{id} to the stream's owner: it applies the
// acks and setErrs, then returns up to maxEvents pending SETs, oldest
// first, including ones returned before and not acknowledged. With none
// pending and returnImmediately false it waits up to LongPollTimeout.
func (t *Transmitter) poll(w http.ResponseWriter, r *http.Request, receiver string) {
	var req pollRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	limit := t.cfg.Limits.MaxPollEvents
	if req.MaxEvents != nil {
		if *req.MaxEvents < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidRequest, "maxEvents must not be negative")
			return
		}
		limit = min(limit, *req.MaxEvents)
	}
	st, err := t.acknowledge(r.Context(), receiver, r.PathValue("id"), &req)
	if err != nil {
		if errors.Is(err, errNotPoll) {
			writeError(w, http.StatusBadRequest, codeInvalidRequest, "the stream does not use poll delivery")
			return
		}
		storeError(r.Context(), w, err)
		return
	}
	deadline := t.cfg.Clock.NewTimer(t.cfg.Limits.LongPollTimeout)
	defer deadline.Stop()
	for {
		changed := t.changedChan()
		resp, err := t.collect(r.Context(), st, limit)
		if err != nil {
			ctrl.LoggerFrom(r.Context()).Error(err, "Cannot sign SETs for a poll", "stream", st.Config.StreamID)
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, "cannot sign SETs now; retry")
			return
		}
		if len(resp.Sets) > 0 || req.ReturnImmediately || limit == 0 || !t.waitForEvents(r.Context(), changed, deadline.C()) {
			writeJSON(w, http.StatusOK, resp)
			return
		}
		if st, err = t.store.get(r.Context(), receiver, st.Config.StreamID); err != nil {
			storeError(r.Context(), w, err)
			return
		}
	}
}

// waitForEvents waits for an outbox to grow or a recheck (another replica
// may have written); false when the long poll is over.
func (t *Transmitter) waitForEvents(ctx context.Context, changed <-chan struct{}, deadline <-chan time.Time) bool {
	recheck := t.cfg.Clock.NewTimer(defaultLongPollRecheckTime)
	defer recheck.Stop()
	select {
	case <-changed:
	case <-recheck.C():
	case <-deadline:
		return false
	case <-ctx.Done():
		return false
	}
	return true
}

// errNotPoll: the stream delivers by push.
var errNotPoll = errors.New("not a poll stream")

func (t *Transmitter) acknowledge(ctx context.Context, receiver, id string, req *pollRequest) (*stream, error) {
	refused := map[string]string{}
	for jti, e := range req.SetErrs {
		refused[jti] = e.Code
	}
	var nAcked, nRefused int
	st, err := t.store.update(ctx, receiver, id, func(st *stream) (bool, error) {
		if st.Config.Delivery.Method != ssf.MethodPoll {
			return false, errNotPoll
		}
		nAcked, nRefused = t.settle(st, req.Ack, refused)
		return nAcked+nRefused > 0, nil
	})
	if err != nil {
		return nil, err
	}
	t.cfg.Metrics.addDeliveries(st.Receiver, ResultDelivered, nAcked)
	t.cfg.Metrics.addDeliveries(st.Receiver, ResultRefused, nRefused)
	t.cfg.Metrics.setPending(st.Config.StreamID, len(st.Outbox))
	return st, nil
}

// collect signs up to limit pending entries of an enabled stream.
func (t *Transmitter) collect(ctx context.Context, st *stream, limit int) (pollResponse, error) {
	resp := pollResponse{Sets: map[string]string{}}
	if st.Status.Status != ssf.StreamEnabled {
		return resp, nil
	}
	for i, e := range st.Outbox {
		if i == limit {
			resp.MoreAvailable = true
			break
		}
		token, err := t.sign(ctx, st, e)
		if err != nil {
			return resp, fmt.Errorf("signing SET %s: %w", e.JTI, err)
		}
		resp.Sets[e.JTI] = string(token)
	}
	return resp, nil
}
