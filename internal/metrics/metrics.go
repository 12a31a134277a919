// Package metrics defines Portcullis's Prometheus metrics. They are created
// and registered explicitly by the manager's wiring, never in init.
package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-dev/portcullis/internal/version"
)

// Metrics holds every Portcullis metric.
type Metrics struct {
	// PoliciesLoaded is the number of AccessPolicies compiled and in use.
	PoliciesLoaded prometheus.Gauge
	// PolicyCompileErrors counts failed compilations by policy.
	PolicyCompileErrors *prometheus.CounterVec
	// Decisions counts grant decisions by action.
	Decisions *prometheus.CounterVec
	// DecisionDuration is how long one grant's decision took.
	DecisionDuration prometheus.Histogram
	// Enforcements counts attempts to apply a state, by system type and result.
	Enforcements *prometheus.CounterVec
	// FindingToEnforcement is the time from the controller first seeing a
	// Finding to the enforced state change it caused.
	FindingToEnforcement prometheus.Histogram
	// GuardHolds counts restrictive transitions the blast-radius guard held.
	GuardHolds prometheus.Counter
	// GuardBudgetRemaining is what is left of the guard's budget in its window.
	GuardBudgetRemaining prometheus.Gauge
	// IngestRequests counts sign-in requests by HTTP status code.
	IngestRequests *prometheus.CounterVec
	// SignIns counts sign-in events by result: accepted, duplicate, rejected.
	SignIns *prometheus.CounterVec
	// FindingWrites counts the ingester's Finding writes: created, updated.
	FindingWrites *prometheus.CounterVec
	// SourcePolls counts SignInSource polls, by source and result
	// (success, error).
	SourcePolls *prometheus.CounterVec
	// SourceRecords counts the records SignInSources read, by source and
	// result (accepted, duplicate, rejected, skipped).
	SourceRecords *prometheus.CounterVec
	// SourceLag is how far each SignInSource's cursor was behind at its
	// last successful poll.
	SourceLag *prometheus.GaugeVec
	// SourceLastSuccess is when each SignInSource last polled successfully.
	SourceLastSuccess *prometheus.GaugeVec
	// SignalStreams are the SignalStream receivers' metrics.
	SignalStreams *SignalStreams
	// BuildInfo is 1, labelled with the running build's version, git
	// revision and Go version, so dashboards can tell builds apart.
	BuildInfo *prometheus.GaugeVec
}

// fineBuckets run from 1 ms to 60 s.
func fineBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// New creates the metrics and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		PoliciesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "portcullis",
			Name:      "policies_loaded",
			Help:      "Number of AccessPolicies compiled and in use.",
		}),
		PolicyCompileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portcullis",
			Name:      "policy_compile_errors_total",
			Help:      "Failed compilations of AccessPolicies, by policy.",
		}, []string{"policy"}),
	}
	m.Decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "decisions_total",
		Help: "Grant decisions by action.",
	}, []string{"action"})
	m.DecisionDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "portcullis", Name: "decision_duration_seconds",
		Help: "Time to decide one grant: gathering the input and evaluating every policy.", Buckets: fineBuckets(),
	})
	m.Enforcements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "enforcements_total",
		Help: "Attempts to apply a grant's state in its connected system, by system type and result (success, error, dryrun).",
	}, []string{"system_type", "result"})
	m.FindingToEnforcement = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "portcullis", Name: "finding_to_enforcement_seconds",
		Help: "Time from the controller first seeing a Finding to the enforced state change of a grant it affects.", Buckets: fineBuckets(),
	})
	m.GuardHolds = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "guard_holds_total",
		Help: "Quarantines and revocations held by the blast-radius guard.",
	})
	m.GuardBudgetRemaining = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "portcullis", Name: "guard_budget_remaining",
		Help: "Quarantines and revocations the blast-radius guard still allows in its current window.",
	})
	m.IngestRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "ingest_requests_total",
		Help: "Requests to POST /v1/signins, by HTTP status code.",
	}, []string{"code"})
	m.SignIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "signins_total",
		Help: "Sign-in events received, by result (accepted, duplicate, rejected).",
	}, []string{"result"})
	m.FindingWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "ingest_finding_writes_total",
		Help: "Findings the sign-in ingester created or updated, by operation.",
	}, []string{"op"})
	m.SourcePolls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "signin_source_polls_total",
		Help: "Polls of identity providers' sign-in logs, by SignInSource and result (success, error).",
	}, []string{"source", "result"})
	m.SourceRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "portcullis", Name: "signin_source_records_total",
		Help: "Records read from sign-in logs, by SignInSource and result (accepted, duplicate, rejected, skipped).",
	}, []string{"source", "result"})
	m.SourceLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "portcullis", Name: "signin_source_lag_seconds",
		Help: "How far a SignInSource's cursor was behind the provider's log at its last successful poll.",
	}, []string{"source"})
	m.SourceLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "portcullis", Name: "signin_source_last_success_timestamp_seconds",
		Help: "Unix time of a SignInSource's last successful poll.",
	}, []string{"source"})
	m.BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "portcullis", Name: "build_info",
		Help: "Always 1, labelled with the version, git revision and Go version of the running build.",
	}, []string{"version", "revision", "goversion"})
	m.SignalStreams = newSignalStreams()
	build := version.Get()
	m.BuildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)
	for _, c := range append([]prometheus.Collector{m.PoliciesLoaded, m.PolicyCompileErrors, m.Decisions, m.DecisionDuration,
		m.Enforcements, m.FindingToEnforcement, m.GuardHolds, m.GuardBudgetRemaining,
		m.IngestRequests, m.SignIns, m.FindingWrites, m.SourcePolls, m.SourceRecords, m.SourceLag, m.SourceLastSuccess,
		m.BuildInfo}, m.SignalStreams.collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metric: %w", err)
		}
	}
	return m, nil
}
