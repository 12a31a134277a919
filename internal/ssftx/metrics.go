package ssftx

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a delivery, the result label of the deliveries counter.
const (
	ResultDelivered = "delivered"
	ResultRefused   = "refused"
	ResultFailed    = "failed"
)

// Metrics are the transmitter's Prometheus metrics.
type Metrics struct {
	queued     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	pending    *prometheus.GaugeVec
}

// NewMetrics makes the metrics and registers them with reg:
// portcullis_ssf_transmit_queued_total{receiver},
// portcullis_ssf_transmit_deliveries_total{receiver,result} and
// portcullis_ssf_transmit_pending{stream}.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_ssf_transmit_queued_total",
			Help: "Events added to a stream's outbox, by receiver.",
		}, []string{"receiver"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_ssf_transmit_deliveries_total",
			Help: "SET deliveries by receiver and result: delivered (202 or poll ack), refused (RFC 8935 error, not retried) or failed (retried).",
		}, []string{"receiver", "result"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_ssf_transmit_pending",
			Help: "Events waiting in a stream's outbox.",
		}, []string{"stream"}),
	}
	for _, c := range []prometheus.Collector{m.queued, m.deliveries, m.pending} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("registering the SSF transmitter metrics twice: %w", err)
			}
			return nil, fmt.Errorf("registering the SSF transmitter metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) addQueued(receiver string, n int) {
	if m != nil && n > 0 {
		m.queued.WithLabelValues(receiver).Add(float64(n))
	}
}

func (m *Metrics) addDeliveries(receiver, result string, n int) {
	if m != nil && n > 0 {
		m.deliveries.WithLabelValues(receiver, result).Add(float64(n))
	}
}

func (m *Metrics) setPending(stream string, n int) {
	if m != nil {
		m.pending.WithLabelValues(stream).Set(float64(n))
	}
}

func (m *Metrics) forget(stream string) {
	if m != nil {
		m.pending.DeleteLabelValues(stream)
	}
}
