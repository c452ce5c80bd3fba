package controllers_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
	"github.com/tenant-operator/tenant-operator/internal/access"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/provision"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
)

const (
	// The suite's manager reconciles this environment only; specs that drive
	// a reconciler by hand use manualEnv, which the manager ignores.
	suiteEnv  = "sod"
	manualEnv = "stage"
	// deletionTimeout is short so the Stalled report is observable.
	deletionTimeout = 8 * time.Second
)

var (
	cp        *controlplane.ControlPlane
	k8sClient client.Client
	scheme    = runtime.NewScheme()
	ctx       context.Context
	cancel    context.CancelFunc
	mgrClient client.Client
	mgrReader client.Reader
	renderer  blueprint.Renderer
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(tenancyv1alpha1.AddToScheme(scheme))
}

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	cp, err = controlplane.Start(controlplane.Options{
		CRDDirectoryPaths: []string{filepath.Join("..", "config", "crd", "bases")},
		ControllerManager: true,
	})
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.New(cp.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(),
		Client:  controllers.ClientOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	mgrClient, mgrReader = mgr.GetClient(), mgr.GetAPIReader()
	renderer = blueprint.Renderer{Mapper: mgr.GetRESTMapper(), AppName: "Test App"}

	r := managerReconciler(mgr, suiteEnv)
	r.DeletionTimeout = deletionTimeout
	Expect(r.SetupWithManager(mgr)).To(Succeed())
	Expect((&controllers.TenantBlueprintReconciler{Client: mgr.GetClient(), Renderer: renderer}).SetupWithManager(mgr)).To(Succeed())

	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
})

// managerReconciler is the installation reconciler as cmd/manager wires it,
// minus SuperOffice, for env.
func managerReconciler(mgr ctrl.Manager, env string) *controllers.TenantInstallationReconciler {
	return &controllers.TenantInstallationReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder("tenant-operator"),
		Renderer:     renderer,
		Provisioners: provision.Registry{Kubernetes: &provision.Kubernetes{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}},
		Environment:  env,
		Access:       &access.Checker{Client: mgr.GetClient(), Mapper: mgr.GetRESTMapper()},
	}
}

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if cp != nil {
		Expect(cp.Stop()).To(Succeed())
	}
})
