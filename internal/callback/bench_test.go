package callback

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

// BenchmarkCallback measures the install callback as a browser sees it, over
// loopback HTTP: state check, code exchange at the simulator's token
// endpoint (which signs an RS256 id_token), verification, and the writes of
// a new installation and its Secret (to controller-runtime's fake client,
// so the API server's latency is not part of the number). Each iteration is
// a new tenant. It reports p50 and p99 in milliseconds.
func BenchmarkCallback(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		tenant := fmt.Sprintf("Cust%d", 100000+i)
		h.sim.AddTenant(superofficesim.Tenant{ContextID: tenant, Serial: "1"})
		u := adminUser
		u.Tenant = tenant
		h.id.SetUser(u)
		c := h.browser()
		cbURL := h.authorize(c, "/install")
		b.StartTimer()
		start := time.Now()
		res := h.get(c, cbURL)
		durations = append(durations, time.Since(start))
		if res.status != http.StatusSeeOther {
			b.Fatalf("callback %d: %s", res.status, res.body)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		idx := int(p * float64(len(durations)-1))
		return float64(durations[idx].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
