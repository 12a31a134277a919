package metrics

import "github.com/prometheus/client_golang/prometheus"

// SignalStreams are the metrics of SignalStreams' receivers.
type SignalStreams struct {
	// Sets counts SETs by stream and result (accepted, refused, unmatched,
	// ambiguous; unmatched and ambiguous count events).
	Sets *prometheus.CounterVec
	// LastEvent is the iat of the latest SET accepted, by stream.
	LastEvent *prometheus.GaugeVec
	// Lag is how long after its iat the latest SET accepted arrived.
	Lag *prometheus.GaugeVec
	// Polls counts poll requests by stream and result (success, error).
	Polls *prometheus.CounterVec
}

func newSignalStreams() *SignalStreams {
	return &SignalStreams{
		Sets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portcullis", Name: "signal_stream_sets_total",
			Help: "Security Event Tokens received on SignalStreams, by stream and result (accepted, refused; unmatched and ambiguous count events).",
		}, []string{"stream", "result"}),
		LastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "portcullis", Name: "signal_stream_last_event_timestamp_seconds",
			Help: "Unix time (iat) of the latest Security Event Token a SignalStream accepted.",
		}, []string{"stream"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "portcullis", Name: "signal_stream_lag_seconds",
			Help: "Seconds between the iat of the latest Security Event Token a SignalStream accepted and its receipt.",
		}, []string{"stream"}),
		Polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portcullis", Name: "signal_stream_polls_total",
			Help: "Poll requests of SignalStreams with poll delivery, by stream and result (success, error).",
		}, []string{"stream", "result"}),
	}
}

func (s *SignalStreams) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.Sets, s.LastEvent, s.Lag, s.Polls}
}

// Forget drops a deleted stream's series.
func (s *SignalStreams) Forget(stream string) {
	s.Sets.DeletePartialMatch(prometheus.Labels{"stream": stream})
	s.Polls.DeletePartialMatch(prometheus.Labels{"stream": stream})
	s.LastEvent.DeleteLabelValues(stream)
	s.Lag.DeleteLabelValues(stream)
}
