package controllers_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/provision"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
)

// countingTransport counts the requests that reach the API server.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// BenchmarkSteadyStateReconcile measures a reconcile of a Ready installation
// that finds everything in place, two ways side by side in one run: reading
// through the manager's label-selected cache (what the operator does) and
// reading every object straight from the API server (what it avoids). It
// reports each one's time and API requests per reconcile, and their ratio.
func BenchmarkSteadyStateReconcile(b *testing.B) {
	cp, err := controlplane.Start(controlplane.Options{CRDDirectoryPaths: []string{controlplane.CRDPath()}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cp.Stop() }()

	var requests atomic.Int64
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, n: &requests} })

	sch := scheme
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: sch, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions(), Client: controllers.ClientOptions(),
		Controller: crconfig.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}
	direct, err := client.New(cfg, client.Options{Scheme: sch})
	if err != nil {
		b.Fatal(err)
	}

	bp := newBlueprint("bench", extraConfigMap)
	ti := newInstallation("default", manualEnv, "Cust424242", bp.Name)
	for _, o := range []client.Object{bp, ti} {
		if err := direct.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	renderer := blueprint.Renderer{Mapper: mgr.GetRESTMapper(), AppName: "Bench"}
	reconciler := func(c client.Client) *controllers.TenantInstallationReconciler {
		return &controllers.TenantInstallationReconciler{Client: c, APIReader: mgr.GetAPIReader(),
			Recorder: events.NewFakeRecorder(1000), Renderer: renderer, Environment: manualEnv, ResyncInterval: time.Hour,
			Provisioners: provision.Registry{Kubernetes: &provision.Kubernetes{Client: c, APIReader: mgr.GetAPIReader()}}}
	}
	cached, uncached := reconciler(mgr.GetClient()), reconciler(direct)
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ti)}

	// Bring the installation to Ready, then let the cache catch up.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := uncached.Reconcile(ctx, req); err != nil {
			b.Fatal(err)
		}
		cur := &tenancyv1alpha1.TenantInstallation{}
		if err := direct.Get(ctx, req.NamespacedName, cur); err != nil {
			b.Fatal(err)
		}
		if cur.Status.Phase == tenancyv1alpha1.PhaseReady {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not Ready: %+v", cur.Status.Conditions)
		}
	}
	time.Sleep(2 * time.Second)

	var cachedNs, uncachedNs, cachedReqs, uncachedReqs int64
	b.ResetTimer()
	for range b.N {
		for _, side := range []struct {
			r     *controllers.TenantInstallationReconciler
			ns, n *int64
		}{{cached, &cachedNs, &cachedReqs}, {uncached, &uncachedNs, &uncachedReqs}} {
			before := requests.Load()
			start := time.Now()
			if _, err := side.r.Reconcile(ctx, req); err != nil {
				b.Fatal(err)
			}
			*side.ns += time.Since(start).Nanoseconds()
			*side.n += requests.Load() - before
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(cachedNs)/n, "cached-ns/reconcile")
	b.ReportMetric(float64(uncachedNs)/n, "direct-ns/reconcile")
	b.ReportMetric(float64(cachedReqs)/n, "cached-apirequests/reconcile")
	b.ReportMetric(float64(uncachedReqs)/n, "direct-apirequests/reconcile")
	b.ReportMetric(float64(uncachedNs)/float64(cachedNs), "direct/cached-time-ratio")
}
