package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/internal/tlsclient"
)

// errDiscovery marks a failure to read or trust the transmitter's metadata.
var errDiscovery = errors.New("reading the transmitter metadata")

// suspendReason is the status reason sent when spec.suspend pauses a
// stream; a stream paused with it is enabled again when suspend is cleared,
// one paused by the transmitter is not.
const suspendReason = "suspended by the Portcullis SignalStream's spec.suspend"

// maxPollRounds bounds the polls of one reconcile while moreAvailable.
const maxPollRounds = 10

// signalEventURIs maps spec.events to the CAEP and RISC event type URIs.
func signalEventURIs() map[accessv1alpha1.SignalEvent]string {
	return map[accessv1alpha1.SignalEvent]string{
		accessv1alpha1.SignalSessionRevoked:         ssf.EventSessionRevoked,
		accessv1alpha1.SignalCredentialChange:       ssf.EventCredentialChange,
		accessv1alpha1.SignalAssuranceLevelChange:   ssf.EventAssuranceLevelChange,
		accessv1alpha1.SignalDeviceComplianceChange: ssf.EventDeviceComplianceChange,
		accessv1alpha1.SignalTokenClaimsChange:      ssf.EventTokenClaimsChange,
		accessv1alpha1.SignalAccountDisabled:        ssf.EventAccountDisabled,
		accessv1alpha1.SignalAccountEnabled:         ssf.EventAccountEnabled,
		accessv1alpha1.SignalAccountPurged:          ssf.EventAccountPurged,
		accessv1alpha1.SignalCredentialCompromise:   ssf.EventCredentialCompromise,
		accessv1alpha1.SignalIdentifierChanged:      ssf.EventIdentifierChanged,
		accessv1alpha1.SignalIdentifierRecycled:     ssf.EventIdentifierRecycled,
	}
}

// requestedEvents are the URIs of spec.events (all when empty), sorted.
func requestedEvents(src *accessv1alpha1.SignalStream) []string {
	names := src.Spec.Events
	if len(names) == 0 {
		names = accessv1alpha1.AllSignalEvents()
	}
	uris := signalEventURIs()
	out := make([]string, 0, len(names))
	for _, n := range names {
		if u, ok := uris[n]; ok {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// shortEventNames are the short names of URIs, the URI itself for one
// without a short name.
func shortEventNames(uris []string) []string {
	short := map[string]string{}
	for n, u := range signalEventURIs() {
		short[u] = string(n)
	}
	out := make([]string, 0, len(uris))
	for _, u := range uris {
		out = append(out, cmp.Or(short[u], truncate(u, 64)))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// readTokens reads the management token and, for push, the push token. A
// reason says what a person must fix; lastError says how.
func (r *SignalStreamReconciler) readTokens(ctx context.Context, src *accessv1alpha1.SignalStream) (streamTokens, string, error) {
	var t streamTokens
	mgmt, reason, err := r.readKey(ctx, src, &src.Spec.CredentialsSecretRef, "spec.credentialsSecretRef")
	if err != nil || reason != "" {
		return t, reason, err
	}
	t.management = mgmt
	if src.Spec.Delivery.Method == accessv1alpha1.SignalDeliveryPush && src.Spec.Delivery.AuthorizationSecretRef != nil {
		push, reason, err := r.readKey(ctx, src, src.Spec.Delivery.AuthorizationSecretRef, "spec.delivery.authorizationSecretRef")
		if err != nil || reason != "" {
			return t, reason, err
		}
		t.push = push
	}
	return t, "", nil
}

func (r *SignalStreamReconciler) readKey(ctx context.Context, src *accessv1alpha1.SignalStream, ref *accessv1alpha1.SecretKeyReference, field string) (string, string, error) {
	data, err := r.Credentials.ReadRef(ctx, &accessv1alpha1.SecretReference{Namespace: ref.Namespace, Name: ref.Name})
	switch {
	case errors.Is(err, ErrSecretNamespace):
		src.Status.LastError = strings.ReplaceAll(err.Error(), "spec.credentialsSecretRef", field)
		return "", accessv1alpha1.ReasonSecretNamespaceNotAllowed, nil
	case isNotFound(err):
		src.Status.LastError = fmt.Sprintf("Secret %s/%s does not exist: create it or fix %s", ref.Namespace, ref.Name, field)
		return "", accessv1alpha1.ReasonSecretNotFound, nil
	case err != nil:
		return "", "", err
	}
	key := cmp.Or(ref.Key, "token")
	v := strings.TrimSpace(string(data[key]))
	if v == "" {
		src.Status.LastError = fmt.Sprintf("Secret %s/%s has no key %q (named by %s) with a bearer token: add it", ref.Namespace, ref.Name, key, field)
		return "", accessv1alpha1.ReasonCredentialsIncomplete, nil
	}
	return v, "", nil
}

// runFor returns the stream's run, building it (reading the transmitter's
// metadata) when there is none or its generation or tokens changed.
func (r *SignalStreamReconciler) runFor(ctx context.Context, src *accessv1alpha1.SignalStream, tokens streamTokens) (*streamRun, error) {
	key := fmt.Sprintf("%s/%d/%s", src.UID, src.Generation, tokens.hash())
	r.mu.Lock()
	old := r.runs[src.UID]
	r.mu.Unlock()
	if old != nil && old.key == key {
		return old, nil
	}
	var cas []byte
	if src.Spec.TLS != nil {
		cas = []byte(src.Spec.TLS.CABundle)
	}
	hc, err := tlsclient.New(tlsclient.Options{CAs: cas, Timeout: ssf.DefaultManagementTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: spec.tls.caBundle %w", errDiscovery, err)
	}
	md, err := ssf.Discover(ctx, hc, src.Spec.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDiscovery, err)
	}
	run := &streamRun{
		key: key, name: src.Name, tokens: tokens,
		client: &ssf.StreamClient{HTTP: hc, Metadata: md, Token: tokens.management},
		sink:   r.Sink, clock: r.Clock, wake: r.wakeStream,
		source: signalsink.Source{Name: src.Name, Issuer: src.Spec.Issuer, Systems: slices.Clone(src.Spec.AccountSystems)},
	}
	if r.Metrics != nil {
		run.metrics = r.Metrics.SignalStreams
	}
	if old != nil {
		run.inherit(old)
	} else {
		run.base = src.Status.Counts
		run.wantState = src.Status.Verification.State
	}
	r.mu.Lock()
	r.runs[src.UID] = run
	r.mu.Unlock()
	return run, nil
}

func (r *SignalStreamReconciler) syncDue(run *streamRun, src *accessv1alpha1.SignalStream) bool {
	return !run.configured || run.recvKey == "" || r.Clock.Since(run.syncedAt) >= r.syncInterval() ||
		src.Status.Verification.VerifiedAt == nil || src.Status.ObservedGeneration != src.Generation
}

// sync brings the stream at the transmitter in line with the spec, builds
// the receiver, reflects the stream's status and asks for verification
// when due.
func (r *SignalStreamReconciler) sync(ctx context.Context, src *accessv1alpha1.SignalStream, run *streamRun) error {
	cfg, changed, err := r.ensureStream(ctx, src, run)
	if err != nil {
		return err
	}
	run.streamID = cfg.StreamID
	st := &src.Status
	st.StreamID, st.EventsDelivered = cfg.StreamID, shortEventNames(cfg.EventsDelivered)
	st.EndpointURL = printable(cfg.Delivery.EndpointURL, 2048)
	st.Audience = src.Spec.Audience
	if st.Audience == "" && len(cfg.Audience) > 0 {
		st.Audience = printable(cfg.Audience[0], 2048)
	}
	if err := r.ensureReceiver(src, run, cfg); err != nil {
		return err
	}
	status, err := r.ensureStreamStatus(ctx, src, run)
	if err != nil {
		return err
	}
	st.StreamStatus, st.StreamStatusReason = printable(status.Status, 32), printable(status.Reason, 256)
	if status.Status == ssf.StreamEnabled && !src.Spec.Suspend {
		if err := r.verify(ctx, src, run, cfg, changed); err != nil {
			return err
		}
	}
	run.configured, run.syncedAt = true, r.Clock.Now()
	return nil
}

// desired is the stream configuration the spec asks for.
func (r *SignalStreamReconciler) desired(src *accessv1alpha1.SignalStream, run *streamRun) *ssf.StreamConfig {
	cfg := &ssf.StreamConfig{StreamID: cmp.Or(src.Status.StreamID, run.streamID), EventsRequested: requestedEvents(src), Description: src.Spec.Description}
	cfg.Delivery.Method = ssf.MethodPoll
	if src.Spec.Delivery.Method == accessv1alpha1.SignalDeliveryPush {
		cfg.Delivery = ssf.StreamDelivery{Method: ssf.MethodPush,
			EndpointURL:         strings.TrimSuffix(r.ReceiverURL, "/") + SignalReceiversPath + src.Name,
			AuthorizationHeader: "Bearer " + run.tokens.push}
	}
	return cfg
}

// ensureStream finds the stream (created again when gone; adopted when
// the transmitter allows one stream and it exists) and updates it when it
// differs from the spec or the run is new. changed says it was created or
// updated.
func (r *SignalStreamReconciler) ensureStream(ctx context.Context, src *accessv1alpha1.SignalStream, run *streamRun) (*ssf.StreamConfig, bool, error) {
	want := r.desired(src, run)
	var have *ssf.StreamConfig
	var err error
	if want.StreamID != "" {
		have, err = run.client.Get(ctx, want.StreamID)
		if err != nil && !errors.Is(err, ssf.ErrStreamNotFound) {
			return nil, false, err
		}
	}
	if have == nil {
		have, err = run.client.Create(ctx, want)
		if errors.Is(err, ssf.ErrStreamConflict) {
			have, err = r.adopt(ctx, src, run)
			run.configured = false
		} else if err == nil {
			return have, true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	want.StreamID = have.StreamID
	if run.configured && sameStream(want, have) {
		return have, false, nil
	}
	updated, err := run.client.Update(ctx, want)
	if err != nil {
		return nil, false, err
	}
	return updated, true, nil
}

// adopt finds the one stream of a transmitter that allows one per
// receiver, unless another SignalStream has it: two SignalStreams sharing
// a stream would reconfigure it in turn, accept each other's SETs and
// delete it under each other.
func (r *SignalStreamReconciler) adopt(ctx context.Context, src *accessv1alpha1.SignalStream, run *streamRun) (*ssf.StreamConfig, error) {
	list, err := run.client.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("the transmitter refused a new stream (one per receiver) and lists %d streams, so none can be adopted", len(list))
	}
	var all accessv1alpha1.SignalStreamList
	if err := r.Reader.List(ctx, &all); err != nil {
		return nil, fmt.Errorf("listing SignalStreams: %w", err)
	}
	for i := range all.Items {
		o := &all.Items[i]
		if o.UID != src.UID && o.Spec.Issuer == src.Spec.Issuer && o.Status.StreamID == list[0].StreamID {
			return nil, fmt.Errorf("the transmitter allows one stream per receiver, and SignalStream %s has it: use other credentials (another receiver) or delete that SignalStream", o.Name)
		}
	}
	return &list[0], nil
}

// sameStream compares what the receiver supplies; the push token is not
// compared (transmitters do not return it): a new token makes a new run,
// which updates the stream.
func sameStream(want, have *ssf.StreamConfig) bool {
	got := slices.Sorted(slices.Values(have.EventsRequested))
	return slices.Equal(want.EventsRequested, slices.Compact(got)) && want.Description == have.Description &&
		want.Delivery.Method == have.Delivery.Method &&
		(want.Delivery.Method != ssf.MethodPush || want.Delivery.EndpointURL == have.Delivery.EndpointURL)
}

// ensureReceiver builds the Verifier and the Poller or PushHandler when
// the stream's issuer, audience, endpoint or id changed.
func (r *SignalStreamReconciler) ensureReceiver(src *accessv1alpha1.SignalStream, run *streamRun, cfg *ssf.StreamConfig) error {
	aud := src.Status.Audience
	if aud == "" {
		return errors.New("the transmitter gives the stream no aud: set spec.audience")
	}
	key := strings.Join([]string{aud, cfg.StreamID, cfg.Delivery.Method, cfg.Delivery.EndpointURL}, "\x00")
	run.suspended.Store(src.Spec.Suspend)
	if run.recvKey == key {
		r.route(src, run, nil)
		return nil
	}
	keys, err := ssf.NewJWKS(ssf.JWKSConfig{URL: run.client.Metadata.JWKSURI, Client: run.client.HTTP, Clock: r.Clock})
	if err != nil {
		return fmt.Errorf("%w: jwks_uri: %w", errDiscovery, err)
	}
	v := &ssf.Verifier{Issuer: src.Spec.Issuer, Audience: aud, Keys: keys, Replay: r.replayStore(src), Clock: r.Clock}
	if cfg.Delivery.Method == ssf.MethodPoll {
		p, err := ssf.NewPoller(ssf.PollConfig{URL: cfg.Delivery.EndpointURL, Client: run.client.HTTP,
			Token: run.tokens.management, Verifier: v, Sink: run, ReturnImmediately: true})
		if err != nil {
			return fmt.Errorf("the transmitter's poll endpoint: %w", err)
		}
		run.poller = p
		r.Receivers.remove(src.Name)
	} else {
		h, err := run.pushHandler(v)
		if err != nil {
			return err
		}
		run.poller = nil
		r.route(src, run, h)
	}
	run.recvKey = key
	return nil
}

// route points the stream's push path at h (or the handler already
// routed), or at a 503 while the stream is suspended.
func (r *SignalStreamReconciler) route(src *accessv1alpha1.SignalStream, run *streamRun, h *countingHandler) {
	if run.poller != nil {
		return
	}
	if h != nil {
		run.push = *h
	}
	if src.Spec.Suspend {
		r.Receivers.set(src.Name, suspendedReceiver{})
		return
	}
	r.Receivers.set(src.Name, run.push)
}

func (r *SignalStreamReconciler) replayStore(src *accessv1alpha1.SignalStream) *ssf.MemoryReplayStore {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.replays[src.UID]
	if s == nil {
		s = ssf.NewMemoryReplayStore(r.Clock, 0)
		r.replays[src.UID] = s
	}
	return s
}

// ensureStreamStatus pauses the stream for spec.suspend and enables one it
// paused so when suspend is cleared; it returns the status.
func (r *SignalStreamReconciler) ensureStreamStatus(ctx context.Context, src *accessv1alpha1.SignalStream, run *streamRun) (*ssf.StreamStatus, error) {
	id := src.Status.StreamID
	st, err := run.client.Status(ctx, id)
	if errors.Is(err, ssf.ErrNotSupported) {
		return &ssf.StreamStatus{StreamID: id, Status: ssf.StreamEnabled}, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case src.Spec.Suspend && st.Status == ssf.StreamEnabled:
		return run.client.SetStatus(ctx, ssf.StreamStatus{StreamID: id, Status: ssf.StreamPaused, Reason: suspendReason})
	case !src.Spec.Suspend && st.Status == ssf.StreamPaused && st.Reason == suspendReason:
		return run.client.SetStatus(ctx, ssf.StreamStatus{StreamID: id, Status: ssf.StreamEnabled})
	}
	return st, nil
}
