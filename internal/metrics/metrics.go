// Package metrics defines Portcullis's Prometheus metrics. They are created
// and registered explicitly by the manager's wiring, never in init.
package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds every Portcullis metric.
type Metrics struct {
	// PoliciesLoaded is the number of AccessPolicies compiled and in use.
	PoliciesLoaded prometheus.Gauge
	// PolicyCompileErrors counts failed compilations by policy.
	PolicyCompileErrors *prometheus.CounterVec
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
	for _, c := range []prometheus.Collector{m.PoliciesLoaded, m.PolicyCompileErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metric: %w", err)
		}
	}
	return m, nil
}
