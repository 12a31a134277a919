package manager

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/guard"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// Options are the manager's settings; every one is a command-line flag.
type Options struct {
	// PolicyTimeout bounds one policy's evaluation for one decision.
	PolicyTimeout time.Duration
	// PolicyDataFiles are YAML or JSON files of reference data merged over
	// the default library's data under data.portcullis.
	PolicyDataFiles []string

	// Guard is the blast-radius guard's budget.
	Guard guard.Options
	// GrantWorkers is how many grants are reconciled at once.
	GrantWorkers int
	// SystemConcurrency is how many of them one ConnectedSystem's grants
	// may take; zero means a quarter of GrantWorkers, at least one.
	SystemConcurrency int
	// EnforcementTimeout bounds one connector call.
	EnforcementTimeout time.Duration
	// KubeAPIQPS and KubeAPIBurst bound the manager's requests to the API server.
	KubeAPIQPS   float32
	KubeAPIBurst int
	// DecisionLog is "" (off), "stdout" or a file path; DecisionLogInput
	// puts the whole input in each entry instead of its digest.
	DecisionLog      string
	DecisionLogInput bool

	// Ingest configures the sign-in endpoint and the evidence pipeline.
	Ingest IngestOptions

	// CredentialsNamespace is the only namespace whose Secrets the manager
	// reads; empty means the namespace the manager runs in.
	CredentialsNamespace string

	// Webhook configures the validating webhook.
	Webhook WebhookOptions

	// SSF configures the Shared Signals endpoint and transmitter.
	SSF SSFOptions

	// Shard splits the work among several managers on one API server.
	Shard ShardOptions

	// MetricsAddr is where /metrics is served. MetricsSecure serves it
	// over HTTPS to callers the API server authenticates and authorizes;
	// MetricsCertDir holds its tls.crt and tls.key (self-signed when empty).
	MetricsAddr    string
	MetricsSecure  bool
	MetricsCertDir string
	ProbeAddr      string
	// PprofAddr serves Go's net/http/pprof profiles; "" or "0" turns it off.
	PprofAddr               string
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	GracefulShutdown        time.Duration
}

// DefaultOptions returns the settings used when no flag is given.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:        ":8443",
		MetricsSecure:      true,
		ProbeAddr:          ":8081",
		LeaderElectionID:   "portcullis.access.portcullis.dev",
		GracefulShutdown:   30 * time.Second,
		PolicyTimeout:      policy.DefaultTimeout,
		Guard:              guard.DefaultOptions(),
		GrantWorkers:       16,
		EnforcementTimeout: controllers.DefaultEnforcementTimeout,
		KubeAPIQPS:         -1,
		KubeAPIBurst:       0,
		Ingest:             DefaultIngestOptions(),
		Webhook:            DefaultWebhookOptions(),
		SSF:                DefaultSSFOptions(),
	}
}

// BindFlags registers the options as flags on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr,
		"Address of the Prometheus metrics endpoint (/metrics); \"0\" turns it off.")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure,
		"Serve /metrics over HTTPS, only to callers whose bearer token the API server authenticates and who may get the non-resource URL /metrics; false serves plain HTTP to anyone who can reach it.")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", o.MetricsCertDir,
		"Directory holding tls.crt and tls.key of the metrics endpoint; empty serves a self-signed certificate made at start.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr,
		"Address of the liveness (/healthz) and readiness (/readyz) probes.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr,
		"Address of Go's pprof profiles (/debug/pprof/), for measuring the manager's memory and CPU; unauthenticated, so bind it to localhost. Empty or \"0\" turns it off.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection,
		"Elect a leader through a Lease so that only one replica reconciles at a time.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace,
		"Namespace of the leader-election Lease; defaults to the manager's own namespace.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID,
		"Name of the leader-election Lease; a shard's is this name, '-' and the shard's name.")
	fs.DurationVar(&o.GracefulShutdown, "graceful-shutdown-timeout", o.GracefulShutdown,
		"How long running reconciles may take to finish on shutdown.")
	fs.DurationVar(&o.PolicyTimeout, "policy-timeout", o.PolicyTimeout,
		"Deadline of one policy's evaluation for one decision; an overrun is run once more at once, and a policy that overruns it twice follows its failurePolicy.")
	fs.IntVar(&o.GrantWorkers, "grant-workers", o.GrantWorkers,
		"How many AccessGrants are reconciled at once.")
	fs.IntVar(&o.SystemConcurrency, "system-concurrency", o.SystemConcurrency,
		"How many of those workers the grants of one ConnectedSystem may hold at once, so that a slow or dead system never delays the others; 0 means a quarter of --grant-workers, at least 1.")
	fs.DurationVar(&o.EnforcementTimeout, "enforcement-timeout", o.EnforcementTimeout,
		"Deadline of one call to a connected system; a call that overruns it fails and is retried with backoff.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS,
		"Requests per second the manager may send to the API server; a negative value leaves the limiting to the server's API Priority and Fairness.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst,
		"Requests the manager may send to the API server in a burst, with --kube-api-qps.")
	fs.IntVar(&o.Guard.MinBudget, "guard-min-budget", o.Guard.MinBudget,
		"Blast-radius guard: quarantines and revocations always allowed per window, however few grants there are.")
	fs.Float64Var(&o.Guard.Percent, "guard-percent", o.Guard.Percent,
		"Blast-radius guard: percent of all grants that may be quarantined or revoked per window (the larger of this and --guard-min-budget applies).")
	fs.Float64Var(&o.Guard.SevereReserve, "guard-severe-reserve", o.Guard.SevereReserve,
		"Blast-radius guard: percent of the budget kept for transitions backed by Critical evidence (a sanctioned country, a failed identity check, a revocation record); other quarantines and revocations share the rest.")
	fs.DurationVar(&o.Guard.Window, "guard-window", o.Guard.Window,
		"Blast-radius guard: the sliding window of the budget.")
	fs.StringVar(&o.DecisionLog, "decision-log", o.DecisionLog,
		"Write an OPA-compatible decision log (JSON lines): \"stdout\" or a file path; empty turns it off.")
	fs.BoolVar(&o.DecisionLogInput, "decision-log-input", o.DecisionLogInput,
		"Put each decision's whole input in the decision log instead of its SHA-256 digest.")
	fs.StringVar(&o.CredentialsNamespace, "credentials-namespace", o.CredentialsNamespace,
		"The only namespace whose Secrets the manager reads: ConnectedSystems' credentials and the sign-in tokens. Defaults to the namespace the manager runs in ($POD_NAMESPACE, else its service account's).")
	fs.StringArrayVar(&o.PolicyDataFiles, "policy-data", nil,
		"YAML or JSON file of reference data merged over the default library's data under data.portcullis (repeatable; later files win).")
	o.Ingest.BindFlags(fs)
	o.Webhook.BindFlags(fs)
	o.SSF.BindFlags(fs)
	o.Shard.BindFlags(fs)
}

// PolicyData returns the default library's data with the files merged over it.
func (o *Options) PolicyData() (map[string]any, error) {
	data, err := policy.DefaultData()
	if err != nil {
		return nil, err
	}
	data, err = policy.MergeDataFiles(data, o.PolicyDataFiles)
	if err != nil {
		return nil, fmt.Errorf("--policy-data: %w", err)
	}
	return data, nil
}
