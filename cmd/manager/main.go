// Command manager runs the tenant-operator: the reconcilers (on the elected
// leader) and the callback server (on every replica).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
	"github.com/tenant-operator/tenant-operator/internal/access"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/config"
	"github.com/tenant-operator/tenant-operator/internal/provision"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(tenancyv1alpha1.AddToScheme(scheme))
}

type options struct {
	configPath           string
	checkConfig          bool
	leaderElect          bool
	leaderElectionID     string
	metricsAddr          string
	probeAddr            string
	callbackAddr         string
	environment          string
	appName              string
	maxConcurrent        int
	resyncInterval       time.Duration
	deletionTimeout      time.Duration
	apiQPS               float64
	apiBurst             int
	leaderElectNamespace string
}

func main() {
	var o options
	flag.StringVar(&o.configPath, "config", "", "Path of the operator configuration file (YAML).")
	flag.BoolVar(&o.checkConfig, "check-config", false, "Check the configuration, print every problem and exit.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so only one replica reconciles; the callback server runs on every replica.")
	flag.StringVar(&o.leaderElectionID, "leader-election-id", "", "Leader election lease name; defaults to tenant-operator-<environment>.tenancy.tenant-operator.io.")
	flag.StringVar(&o.leaderElectNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's namespace).")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&o.callbackAddr, "callback-bind-address", ":9443", "Address of the SuperOffice callback server (install, callback, status pages); 0 disables it.")
	flag.StringVar(&o.environment, "environment", "", "Only reconcile installations of this SuperOffice environment (the config file's environment wins when given).")
	flag.StringVar(&o.appName, "app-name", "Partner App", "Application name shown in SuperOffice web panel descriptions (the config file's wins when given).")
	flag.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", 4, "Installations reconciled at once: bounds the load on SuperOffice and the API server.")
	flag.DurationVar(&o.resyncInterval, "resync-interval", 10*time.Minute, "How often a Ready installation is re-checked for drift that no watch reports (spread ±10% so installations do not resync in lockstep).")
	flag.DurationVar(&o.deletionTimeout, "deletion-timeout", 10*time.Minute, "How long uninstall retries before the installation reports Stalled (it keeps retrying, slower).")
	flag.Float64Var(&o.apiQPS, "kube-api-qps", 20, "Requests per second to the Kubernetes API server.")
	flag.IntVar(&o.apiBurst, "kube-api-burst", 40, "Burst of requests to the Kubernetes API server.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	log := ctrl.Log.WithName("setup")
	if o.checkConfig {
		os.Exit(checkConfig(o.configPath, os.Stdout))
	}
	// The configuration is checked before anything starts: a bad one stops
	// the manager with the same messages --check-config prints.
	var cfg *config.Config
	if o.configPath != "" {
		var err error
		if cfg, err = loadConfig(o.configPath); err != nil {
			return err
		}
		o.environment = cfg.Environment.Name
		if cfg.AppName != "" {
			o.appName = cfg.AppName
		}
	} else {
		log.Info("no --config given: reconciling Kubernetes artifacts only; the callback server and the SuperOffice side are off")
	}
	if o.maxConcurrent < 1 {
		return errors.New("--max-concurrent-reconciles must be at least 1")
	}
	if o.leaderElectionID == "" {
		env := o.environment
		if env == "" {
			env = "all"
		}
		o.leaderElectionID = fmt.Sprintf("tenant-operator-%s.tenancy.tenant-operator.io", env)
	}

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the Kubernetes API server: %w", err)
	}
	restConfig.QPS = float32(o.apiQPS)
	restConfig.Burst = o.apiBurst

	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        o.leaderElectionID,
		LeaderElectionNamespace: o.leaderElectNamespace,
		// Stepping down on shutdown hands over leadership at once.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controllers.CacheOptions(),
		Client:                        controllers.ClientOptions(),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	registry := provision.Registry{Kubernetes: &provision.Kubernetes{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}}
	if cfg != nil {
		ks, err := superoffice.NewKeySet(ctx, superoffice.KeySetOptions{
			JWKSURL:        cfg.Environment.JWKSURL,
			OnRefreshError: func(err error) { log.Error(err, "SuperOffice signing keys could not be refreshed") },
		})
		if err != nil {
			return fmt.Errorf("SuperOffice signing keys: %w", err)
		}
		so, err := newSuperOfficeSide(ctx, cfg, mgr, ks)
		if err != nil {
			return err
		}
		registry.SuperOffice = so.provisioners
		if o.callbackAddr != "0" {
			srv, err := newCallbackServer(cfg, mgr, ks, o.callbackAddr, map[string]http.Handler{"POST /webhooks/superoffice": so.webhooks})
			if err != nil {
				return err
			}
			if err := mgr.Add(srv); err != nil {
				return fmt.Errorf("add callback server: %w", err)
			}
		}
	}

	renderer := blueprint.Renderer{Mapper: mgr.GetRESTMapper(), AppName: o.appName}
	// One checker, so both controllers share its remembered answers.
	checker := &access.Checker{Client: mgr.GetClient(), Mapper: mgr.GetRESTMapper()}
	if err := (&controllers.TenantInstallationReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("tenant-operator"),
		Renderer:                renderer,
		Provisioners:            registry,
		Environment:             o.environment,
		ResyncInterval:          o.resyncInterval,
		DeletionTimeout:         o.deletionTimeout,
		MaxConcurrentReconciles: o.maxConcurrent,
		Access:                  checker,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up TenantInstallation controller: %w", err)
	}
	if err := (&controllers.TenantBlueprintReconciler{Client: mgr.GetClient(), Renderer: renderer, Access: checker}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up TenantBlueprint controller: %w", err)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}

	log.Info("starting manager", "environment", o.environment, "leaderElection", o.leaderElect, "leaderElectionID", o.leaderElectionID)
	return mgr.Start(ctx)
}
