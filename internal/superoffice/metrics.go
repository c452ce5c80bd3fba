package superoffice

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric labels are bounded on purpose: environment (a handful), operation
// (a fixed list of constants in this package) and status class. Per-tenant
// accounting lives in status.usage, never in a label.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_superoffice_requests_total",
		Help: "Requests made to SuperOffice, by environment, operation and status class (2xx, 4xx, 5xx, error).",
	}, []string{"environment", "operation", "status_class"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tenant_operator_superoffice_request_duration_seconds",
		Help:    "Duration of requests to SuperOffice, by environment and operation.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"environment", "operation"})

	throttledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_superoffice_throttled_total",
		Help: "Requests not made or refused because of throttling, by environment, operation and source (remote = SuperOffice said 429/503, local = our own rate limit).",
	}, []string{"environment", "operation", "source"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, requestDuration, throttledTotal)
}

// statusClass maps a status code to a bounded label value.
func statusClass(code int) string {
	if code <= 0 {
		return "error"
	}
	return strconv.Itoa(code/100) + "xx"
}

// Operation names used as the metric label; keep this list closed.
const (
	OpSystemUser    = "systemuser_exchange"
	OpStateAPI      = "state_api"
	OpWebPanelList  = "webpanel_list"
	OpWebPanelGet   = "webpanel_get"
	OpWebPanelWrite = "webpanel_write"
	OpWebPanelDel   = "webpanel_delete"
	OpTaskMenuList  = "taskmenu_list"
	OpTaskMenuWrite = "taskmenu_write"
	OpTaskMenuDel   = "taskmenu_delete"
	OpUdefGet       = "udef_get"
	OpUdefWrite     = "udef_write"
	OpUdefDel       = "udef_delete"
	OpUdefPublish   = "udef_publish"
	OpPrefGet       = "preference_get"
	OpPrefWrite     = "preference_write"
	OpPrefDel       = "preference_delete"
	OpWebhookGet    = "webhook_get"
	OpWebhookWrite  = "webhook_write"
	OpWebhookDel    = "webhook_delete"
	OpOther         = "other"
)

var knownOps = map[string]bool{
	OpSystemUser: true, OpStateAPI: true, OpWebPanelList: true, OpWebPanelGet: true, OpWebPanelWrite: true,
	OpWebPanelDel: true, OpTaskMenuList: true, OpTaskMenuWrite: true, OpTaskMenuDel: true, OpUdefGet: true,
	OpUdefWrite: true, OpUdefDel: true, OpUdefPublish: true, OpPrefGet: true, OpPrefWrite: true, OpPrefDel: true,
	OpWebhookGet: true, OpWebhookWrite: true, OpWebhookDel: true, OpOther: true,
}

// opLabel keeps the operation label inside the closed list.
func opLabel(op string) string {
	if knownOps[op] {
		return op
	}
	return OpOther
}
