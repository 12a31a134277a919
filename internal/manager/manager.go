// Package manager wires the controller-runtime manager: the scheme, the
// field indexes, every reconciler, health and readiness probes, metrics and
// leader election.
package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/entra"
	"github.com/portcullis-dev/portcullis/internal/connectors/google"
	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
	ldapconnector "github.com/portcullis-dev/portcullis/internal/connectors/ldap"
	"github.com/portcullis-dev/portcullis/internal/connectors/okta"
	"github.com/portcullis-dev/portcullis/internal/connectors/postgres"
	"github.com/portcullis-dev/portcullis/internal/connectors/scim"
	"github.com/portcullis-dev/portcullis/internal/connectors/webhook"
	"github.com/portcullis-dev/portcullis/internal/decisionlog"
	"github.com/portcullis-dev/portcullis/internal/guard"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// NewScheme returns a scheme with the Kubernetes built-in kinds and Portcullis's.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("adding client-go kinds to scheme: %w", err)
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("adding access.portcullis.dev kinds to scheme: %w", err)
	}
	return scheme, nil
}

// Run starts the manager against the API server of cfg and blocks until ctx
// ends or the manager fails.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	mgr, err := New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Starting manager", "metrics", opts.MetricsAddr, "probes", opts.ProbeAddr,
		"leaderElection", opts.LeaderElection)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// New builds a manager with every reconciler registered.
func New(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	mgr, plan, err := newManager(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	ropts, err := reconcilerOptions(opts)
	if err != nil {
		return nil, err
	}
	if ropts.CredentialsNamespace, err = opts.credentialsNamespace(); err != nil {
		return nil, err
	}
	ropts.Recorder = mgr.GetEventRecorder("portcullis")
	ropts.Connectors = DefaultConnectors(mgr, ropts.Clock)
	pipeline, err := NewPipeline(mgr, opts, ropts.Clock)
	if err != nil {
		return nil, err
	}
	ropts.Ingester = pipeline.Ingester
	ropts.ReservedSecrets = opts.reservedSecrets(ropts.CredentialsNamespace)
	ropts.Shard = plan.shard()
	transmitter, err := prepareSignals(mgr, opts, &ropts)
	if err != nil {
		return nil, err
	}
	if err := SetupReconcilers(ctx, mgr, ropts); err != nil {
		return nil, err
	}
	if ns, _, _ := strings.Cut(opts.Ingest.TokenSecret, "/"); opts.Ingest.TokenSecret != "" && ns != ropts.CredentialsNamespace {
		return nil, fmt.Errorf("--ingest-token-secret %s is outside the credentials namespace %s, the only one whose Secrets the manager reads: move the Secret there",
			opts.Ingest.TokenSecret, ropts.CredentialsNamespace)
	}
	if err := setupIngest(mgr, opts, pipeline, ropts); err != nil {
		return nil, err
	}
	if err := setupSSF(mgr, opts, ropts.SignalReceivers, transmitter); err != nil {
		return nil, err
	}
	if err := addWebhook(ctx, mgr, opts, ropts); err != nil {
		return nil, err
	}
	return mgr, nil
}

// newManager creates the controller-runtime manager, with its cache
// limited to the shard's namespaces when it is a shard, its probes, and
// the shard's watch of its namespaces.
func newManager(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, *shardPlan, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.KubeAPIQPS, opts.KubeAPIBurst
	webhookServer, err := opts.Webhook.server()
	if err != nil {
		return nil, nil, err
	}
	plan, namespaces, err := planShard(ctx, cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   CacheOptions(namespaces...),
		NewCache:                newShardCache(namespaces),
		Metrics:                 metricsOptions(opts),
		WebhookServer:           webhookServer,
		HealthProbeBindAddress:  opts.ProbeAddr,
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		LeaderElectionID:        plan.leaseID(opts.LeaderElectionID),
		// Release the lease on a clean stop so a new leader need not wait
		// for it to lapse.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &opts.GracefulShutdown,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := addProbes(mgr, cfg); err != nil {
		return nil, nil, err
	}
	return mgr, plan, plan.watch(ctx, mgr, namespaces)
}

// addWebhook serves the validating webhook when it is configured.
func addWebhook(ctx context.Context, mgr ctrl.Manager, opts Options, ropts ReconcilerOptions) error {
	checker, ok := ropts.Engine.(admission.Checker)
	if !ok {
		return fmt.Errorf("the policy engine %T cannot check policies for the webhook", ropts.Engine)
	}
	// The webhook's Secret and Service are the manager's own, in its own
	// namespace, whatever namespace the credentials are in.
	webhookNamespace := podNamespace()
	if webhookNamespace == "" {
		webhookNamespace = ropts.CredentialsNamespace
	}
	return setupWebhook(ctx, mgr, opts.Webhook, webhookNamespace, checker)
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsOptions serve /metrics; securely, only to callers the API server
// authenticates with a bearer token and authorizes to get /metrics.
func metricsOptions(opts Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: opts.MetricsAddr}
	if opts.MetricsSecure {
		m.SecureServing, m.CertDir = true, opts.MetricsCertDir
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// reconcilerOptions builds the policy engine and metrics of a production manager.
func reconcilerOptions(opts Options) (ReconcilerOptions, error) {
	ropts := DefaultReconcilerOptions()
	data, err := opts.PolicyData()
	if err != nil {
		return ropts, err
	}
	engine, err := policy.NewEngine(policy.Options{Data: data, Timeout: opts.PolicyTimeout})
	if err != nil {
		return ropts, err
	}
	ropts.Engine, ropts.MaxExceptionLifetime = engine, engine.MaxExceptionLifetime()
	if ropts.Metrics, err = metrics.New(ctrlmetrics.Registry); err != nil {
		return ropts, err
	}
	ropts.Guard = guard.New(ropts.Clock, opts.Guard)
	ropts.GrantWorkers = opts.GrantWorkers
	ropts.SystemConcurrency, ropts.EnforcementTimeout = opts.SystemConcurrency, opts.EnforcementTimeout
	ropts.DecisionLog, err = decisionlog.Open(opts.DecisionLog, opts.DecisionLogInput)
	return ropts, err
}

// DefaultConnectors returns a connector for each system type this version
// supports.
func DefaultConnectors(mgr ctrl.Manager, clk clock.PassiveClock) connectors.Registry {
	return connectors.Registry{
		accessv1alpha1.SystemTypeKubernetes: &k8sconnector.Connector{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()},
		accessv1alpha1.SystemTypeWebhook:    &webhook.Connector{Clock: clk},
		accessv1alpha1.SystemTypePostgres:   &postgres.Connector{},
		accessv1alpha1.SystemTypeSCIM:       &scim.Connector{},
		accessv1alpha1.SystemTypeLDAP:       &ldapconnector.Connector{},
		accessv1alpha1.SystemTypeOkta:       &okta.Connector{},
		accessv1alpha1.SystemTypeEntra:      &entra.Connector{},
		accessv1alpha1.SystemTypeGoogle:     &google.Connector{},
	}
}

// ReconcilerOptions are the reconcilers' dependencies and settings.
type ReconcilerOptions struct {
	// Engine decides grants; the AccessPolicy reconciler loads it.
	Engine policy.Engine
	// Metrics are registered by the caller.
	Metrics *metrics.Metrics
	Clock   clock.PassiveClock
	// Connectors enforce grants, one per system type.
	Connectors connectors.Registry
	// Guard is the blast-radius guard.
	Guard *guard.Guard
	// Recorder records Events.
	Recorder events.EventRecorder
	// DecisionLog, when not nil, receives every decision.
	DecisionLog *decisionlog.Logger
	// GrantResync is how often a grant is re-checked without an event.
	GrantResync time.Duration
	// GrantWorkers is how many grants are reconciled at once.
	GrantWorkers int
	// SystemConcurrency and EnforcementTimeout are the per-system bulkhead
	// and the deadline of one connector call (see Options).
	SystemConcurrency  int
	EnforcementTimeout time.Duration
	// SystemRecheckReady and SystemRecheckNotReady are how long until a
	// ConnectedSystem is checked again.
	SystemRecheckReady, SystemRecheckNotReady time.Duration
	// CredentialsNamespace is the only namespace credentials are read from.
	CredentialsNamespace string
	// MaxExceptionLifetime is the longest a PolicyException may last.
	MaxExceptionLifetime time.Duration
	// Ingester stores the sign-ins that SignInSources read (the pipeline
	// the sign-in endpoint shares).
	Ingester controllers.SignInIngester
	// SourceInterval, when set, replaces every SignInSource's poll
	// interval (tests).
	SourceInterval time.Duration
	// SignalSink acts on the SETs that SignalStreams accept
	// (signalsink.Sink). Required: without it the SignalStream reconciler
	// refuses to start.
	SignalSink controllers.SignalSink
	// SignalReceiverURL is the https base URL transmitters push SETs to
	// (--ssf-receiver-url); push SignalStreams need it.
	SignalReceiverURL string
	// SignalReceivers routes pushed SETs; the caller mounts it at
	// controllers.SignalReceiversPath. A nil one is made (push streams
	// then receive nothing).
	SignalReceivers *controllers.SignalReceivers
	// SignalInterval, when set, replaces every SignalStream's poll, sync
	// and retry intervals (tests).
	SignalInterval time.Duration
	// Announcer, when set, tells Shared Signals receivers when a
	// contractor loses or regains access.
	Announcer controllers.AccessAnnouncer
	// ReservedSecrets are the Secrets of the credentials namespace that no
	// object may name as credentials (see controllers.Credentials).
	ReservedSecrets map[string]bool
	// Shard, when set, is this manager's part of a sharded deployment.
	Shard *controllers.Shard
}

// DefaultReconcilerOptions returns the settings of a production manager,
// without the engine and metrics, which the caller adds.
func DefaultReconcilerOptions() ReconcilerOptions {
	return ReconcilerOptions{
		Clock:                 clock.RealClock{},
		SystemRecheckReady:    controllers.DefaultSystemRecheckReady,
		SystemRecheckNotReady: controllers.DefaultSystemRecheckNotReady,
	}
}

// SetupReconcilers registers the field indexes and every reconciler with mgr.
func SetupReconcilers(ctx context.Context, mgr ctrl.Manager, opts ReconcilerOptions) error {
	if opts.Engine == nil || opts.Metrics == nil || opts.Clock == nil || opts.Connectors == nil ||
		opts.Guard == nil || opts.Recorder == nil || opts.CredentialsNamespace == "" || opts.Ingester == nil {
		return errors.New("reconcilers need a policy engine, metrics, a clock, connectors, a guard, an event recorder, a credentials namespace and a sign-in ingester")
	}
	if err := kube.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	c, reader, clk := mgr.GetClient(), mgr.GetAPIReader(), opts.Clock
	sync := controllers.NewPolicySync()
	creds := &controllers.Credentials{Reader: reader, Namespace: opts.CredentialsNamespace, Reserved: opts.ReservedSecrets}
	opts.Guard.UseStore(&controllers.GuardStore{Client: c, Reader: reader, Namespace: opts.CredentialsNamespace, Shard: opts.Shard})
	health, evalErrors := controllers.NewSystemHealth(clk), controllers.NewEvaluationErrors(clk)
	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&controllers.ContractorReconciler{Client: c, Clock: clk, Recorder: opts.Recorder, Announcer: opts.Announcer},
		&controllers.AccessGrantReconciler{Client: c, APIReader: reader, Credentials: creds, Clock: clk, Engine: opts.Engine, Sync: sync,
			Connectors: opts.Connectors, Guard: opts.Guard, Metrics: opts.Metrics, Recorder: opts.Recorder,
			DecisionLog: opts.DecisionLog, Findings: controllers.NewFindingClock(clk), Resync: opts.GrantResync,
			Workers: opts.GrantWorkers, SystemConcurrency: opts.SystemConcurrency, EnforcementTimeout: opts.EnforcementTimeout,
			Health: health, EvalErrors: evalErrors},
		&controllers.AccessPolicyReconciler{Client: c, APIReader: reader, Clock: clk,
			Engine: opts.Engine, Metrics: opts.Metrics, Sync: sync,
			LastGood:   &controllers.LastGoodStore{Client: c, Reader: reader, Namespace: opts.CredentialsNamespace},
			EvalErrors: evalErrors, Recorder: opts.Recorder, Shard: opts.Shard},
		&controllers.ConnectedSystemReconciler{Client: c, Credentials: creds, Clock: clk, Connectors: opts.Connectors, Recorder: opts.Recorder,
			RecheckReady: opts.SystemRecheckReady, RecheckNotReady: opts.SystemRecheckNotReady, Health: health, Shard: opts.Shard},
		&controllers.FindingReconciler{Client: c, Clock: clk, Recorder: opts.Recorder},
		&controllers.PolicyExceptionReconciler{Client: c, Clock: clk, MaxLifetime: opts.MaxExceptionLifetime, Recorder: opts.Recorder},
		&controllers.SignInSourceReconciler{Client: c, Reader: reader, Credentials: creds, Connectors: opts.Connectors,
			Ingester: opts.Ingester, Clock: clk, Recorder: opts.Recorder, Metrics: opts.Metrics, Interval: opts.SourceInterval, Shard: opts.Shard},
		&controllers.SignalStreamReconciler{Client: c, Reader: reader, Credentials: creds, Sink: opts.SignalSink, Receivers: opts.SignalReceivers,
			ReceiverURL: opts.SignalReceiverURL, Clock: clk, Recorder: opts.Recorder, Metrics: opts.Metrics, Interval: opts.SignalInterval,
			Shard: opts.Shard},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up %T: %w", r, err)
		}
	}
	return nil
}

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// credentialsNamespace is --credentials-namespace, else the namespace the
// manager runs in.
func (o *Options) credentialsNamespace() (string, error) {
	if o.CredentialsNamespace != "" {
		return o.CredentialsNamespace, nil
	}
	if ns := podNamespace(); ns != "" {
		return ns, nil
	}
	return "", errors.New("the manager does not know its namespace: set --credentials-namespace (or $POD_NAMESPACE)")
}

// podNamespace is the namespace the manager runs in: $POD_NAMESPACE, else
// its service account's; "" out of a cluster.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if raw, err := os.ReadFile(serviceAccountNamespace); err == nil && len(bytes.TrimSpace(raw)) > 0 {
		return string(bytes.TrimSpace(raw))
	}
	return ""
}
