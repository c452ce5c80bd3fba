package superoffice

import (
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// Meter adds one tenant's API use to a Usage (status.usage) and to the
// bounded-label metrics. A nil Usage only feeds the metrics.
type Meter struct {
	Environment string
	Usage       *tenancyv1alpha1.Usage

	mu sync.Mutex
}

// request records one request that reached SuperOffice (or failed on the wire).
func (m *Meter) request(op string, code int, bytes int64, seconds float64, at time.Time) {
	requestsTotal.WithLabelValues(m.Environment, opLabel(op), statusClass(code)).Inc()
	requestDuration.WithLabelValues(m.Environment, opLabel(op)).Observe(seconds)
	if m.Usage == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Usage.Requests++
	m.Usage.Bytes += bytes
	t := metav1.NewTime(at.UTC().Truncate(time.Second))
	m.Usage.LastRequestTime = &t
}

// throttled records a throttle; remote is true when SuperOffice said it.
func (m *Meter) throttled(op string, remote bool) {
	src := "local"
	if remote {
		src = "remote"
	}
	throttledTotal.WithLabelValues(m.Environment, opLabel(op), src).Inc()
	// status.usage counts what SuperOffice told us; our own limiter is not its business.
	if m.Usage == nil || !remote {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Usage.Throttled++
}
