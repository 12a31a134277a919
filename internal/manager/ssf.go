package manager

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/signals"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssftx"
)

// The transmitter keeps its streams in Secrets of the manager's namespace,
// which needs more than the manager's own Role grants (get): that Role is
// config/ssf (the chart's ssf-transmitter-rbac.yaml), installed only with
// the transmitter.

// newTransmitter builds the Shared Signals transmitter of opts.SSF, or
// returns nil when it is off.
func newTransmitter(mgr ctrl.Manager, opts Options, namespace string, clk clock.Clock) (*ssftx.Transmitter, error) {
	o := opts.SSF
	if err := o.check(namespace); err != nil {
		return nil, err
	}
	if !o.transmitting() {
		return nil, nil
	}
	keys, _ := secretFlag("--ssf-signing-key-secret", o.SigningKeySecret)
	tokens, _ := secretFlag("--ssf-receiver-token-secret", o.ReceiverTokenSecret)
	roots, err := receiverRoots(o.ReceiverCAFile)
	if err != nil {
		return nil, err
	}
	m, err := ssftx.NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return nil, err
	}
	t, err := ssftx.New(ssftx.Config{Issuer: o.Issuer, KeysSecret: keys, TokensSecret: tokens, Namespace: namespace,
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Clock: clk, Metrics: m,
		HTTPClient: ssftx.HTTPClientOptions{RootCAs: roots, AllowPrivateEndpoints: o.AllowPrivateReceivers}})
	if err != nil {
		return nil, fmt.Errorf("the Shared Signals transmitter: %w", err)
	}
	if err := mgr.Add(t.Deliverer()); err != nil {
		return nil, err
	}
	return t, nil
}

// reservedSecrets are the Secrets of namespace that the manager keeps for
// itself: the tokens it accepts, its signing keys and its webhook
// certificate. Objects may not name them as their credentials.
func (o *Options) reservedSecrets(namespace string) map[string]bool {
	reserved := map[string]bool{}
	for _, ref := range []string{o.Ingest.TokenSecret, o.SSF.SigningKeySecret, o.SSF.ReceiverTokenSecret} {
		if key, ok := signals.ParseKey(ref); ok && key.Namespace == namespace {
			reserved[key.Name] = true
		}
	}
	if o.Webhook.Secret != "" {
		reserved[o.Webhook.Secret] = true
	}
	return reserved
}

// receiverRoots is the system's certificate pool plus the PEM bundle in
// file, or nil (the system's) without one.
func receiverRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ssf-receiver-ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ssf-receiver-ca-file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// prepareSignals gives the SignalStream reconciler its sink (Findings
// through the manager's client) and the push routes the endpoint serves,
// and builds the transmitter when it is on, which the contractor
// reconciler then announces through.
func prepareSignals(mgr ctrl.Manager, opts Options, ropts *ReconcilerOptions) (*ssftx.Transmitter, error) {
	ropts.SignalSink = &signalsink.Sink{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Clock: ropts.Clock,
		FindingTTL: opts.Ingest.FindingTTL}
	ropts.SignalReceivers = controllers.NewSignalReceivers()
	ropts.SignalReceiverURL = opts.SSF.ReceiverURL
	t, err := newTransmitter(mgr, opts, ropts.CredentialsNamespace, clock.RealClock{})
	if t != nil {
		ropts.Announcer = transitionAnnouncer{t}
	}
	return t, err
}

// setupSSF serves the Shared Signals endpoint when it is configured.
func setupSSF(mgr ctrl.Manager, opts Options, receivers http.Handler, t *ssftx.Transmitter) error {
	if !opts.SSF.enabled() {
		return nil
	}
	srv := &SSFServer{Addr: opts.SSF.Addr, CertFile: opts.SSF.TLSCertFile, KeyFile: opts.SSF.TLSKeyFile, Receivers: receivers}
	if t != nil {
		srv.Transmitter = t.Handler()
	}
	return mgr.Add(srv)
}

// transitionAnnouncer hands the contractor reconciler's transitions to the
// transmitter.
type transitionAnnouncer struct{ t *ssftx.Transmitter }

func (a transitionAnnouncer) AnnounceAccess(ctx context.Context, tr controllers.AccessTransition) error {
	return a.t.Announce(ctx, ssftx.Transition{ID: tr.ID, Email: tr.Email, Disabled: tr.Disabled, Reason: tr.Reason, Time: tr.Time})
}
