package callback

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of a callback, the values of the result label. Bounded on
// purpose: per-tenant detail belongs in the installation's status.
const (
	resultSuccess      = "success"
	resultDenied       = "denied"
	resultBadRequest   = "bad_request"
	resultBadState     = "bad_state"
	resultBadToken     = "bad_token"
	resultForbidden    = "forbidden"
	resultConflict     = "conflict"
	resultUpstream     = "upstream_error"
	resultError        = "error"
	resultRateLimited  = "rate_limited"
	resultUninstallReq = "uninstall_authorized"
)

type metrics struct {
	callbacks *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

// sharedMetrics registers the callback metrics on controller-runtime's
// registry once per process, so that every Server (and test) shares them.
func sharedMetrics() *metrics {
	metricsOnce.Do(func() {
		m := &metrics{
			callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "tenant_operator_callbacks_total",
				Help: "Install callbacks handled, by SuperOffice environment and result.",
			}, []string{"environment", "result"}),
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "tenant_operator_callback_duration_seconds",
				Help:    "Time to answer an install callback, including the code exchange with SuperOffice.",
				Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
			}, []string{"environment"}),
		}
		ctrlmetrics.Registry.MustRegister(m.callbacks, m.duration)
		theMetrics = m
	})
	return theMetrics
}

func (m *metrics) observe(env, result string, d time.Duration) {
	m.callbacks.WithLabelValues(env, result).Inc()
	if d > 0 {
		m.duration.WithLabelValues(env).Observe(d.Seconds())
	}
}
