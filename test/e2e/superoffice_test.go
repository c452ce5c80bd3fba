package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/provision"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

// timedProvisioner records how long each call took, so the suite can show
// that no worker waited out a throttle.
type timedProvisioner struct {
	inner provision.Provisioner
	mu    *sync.Mutex
	max   *time.Duration
	what  *string
}

func (p timedProvisioner) observe(start time.Time, what string) {
	d := time.Since(start)
	p.mu.Lock()
	defer p.mu.Unlock()
	if d > *p.max {
		*p.max, *p.what = d, what
	}
}

func (p timedProvisioner) Apply(ctx context.Context, t provision.Tenant, d provision.Desired) (e tenancyv1alpha1.ProvisionedArtifact, err error) {
	defer func(start time.Time) {
		p.observe(start, fmt.Sprintf("apply %s of %s: %v", d.Entry.ID, t.Installation.Name, err))
	}(time.Now())
	return p.inner.Apply(ctx, t, d)
}

func (p timedProvisioner) Delete(ctx context.Context, t provision.Tenant, e tenancyv1alpha1.ProvisionedArtifact) (gone bool, reason string, err error) {
	defer func(start time.Time) {
		p.observe(start, fmt.Sprintf("delete %s of %s: %v", e.ID, t.Installation.Name, err))
	}(time.Now())
	return p.inner.Delete(ctx, t, e)
}

// The SuperOffice side of an installation, end to end: envtest with
// kube-controller-manager, the reconciler with the SuperOffice provisioners,
// and the simulator over loopback HTTP. Items refer to the issue's
// "How it is proven" list.
var _ = Describe("SuperOffice provisioning against the simulator", Ordered, func() {
	const (
		env         = "sosim"
		ns          = "so-installs"
		clientID    = "so-e2e-client"
		clientSec   = "so-e2e-secret"
		appName     = "SO E2E"
		tenantRate  = 4
		tenantBurst = superoffice.MinBurst
		timeout     = 90 * time.Second
		poll        = 100 * time.Millisecond
	)
	var (
		cp      *controlplane.ControlPlane
		k8s     client.Client
		sim     *superofficesim.Simulator
		rest    *superofficesim.REST
		ident   *superofficesim.Identity
		cancel  context.CancelFunc
		maxCall time.Duration
		maxWhat string
		callMu  sync.Mutex
	)
	ctx := context.Background()

	sample := func() tenancyv1alpha1.TenantBlueprintSpec {
		return tenancyv1alpha1.TenantBlueprintSpec{
			Kubernetes: tenancyv1alpha1.KubernetesBlueprint{NamespaceTemplate: "so-{{ .TenantIDLower }}", NetworkIsolation: ptr.To(false)},
			SuperOffice: tenancyv1alpha1.SuperOfficeBlueprint{
				WebPanels:         []tenancyv1alpha1.WebPanel{{Name: "Orders", URL: "https://apps.example.com/orders?ctx={{ .TenantID }}", VisibleIn: "ContactArchive", Description: "Open orders"}},
				UserDefinedFields: []tenancyv1alpha1.UserDefinedField{{Entity: "Contact", ProgID: "soe2e.tier", Label: "Tier", Type: "ShortText"}},
				Buttons:           []tenancyv1alpha1.Button{{Name: "Sync now", Location: "Contact", URL: "https://apps.example.com/sync"}},
				Preferences:       []tenancyv1alpha1.Preference{{Section: "soe2e", Key: "mode", Value: "fast", Level: "Database"}},
				Webhooks:          []tenancyv1alpha1.Webhook{{Name: "contacts", Events: []string{"contact.created"}}},
			},
		}
	}

	BeforeAll(func() {
		logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
		scheme := runtime.NewScheme()
		utilruntime.Must(clientgoscheme.AddToScheme(scheme))
		utilruntime.Must(tenancyv1alpha1.AddToScheme(scheme))
		var err error
		cp, err = controlplane.Start(controlplane.Options{CRDDirectoryPaths: []string{controlplane.CRDPath()}, ControllerManager: true})
		Expect(err).NotTo(HaveOccurred())
		k8s, err = client.New(cp.Config, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())

		appKey, err := rsa.GenerateKey(rand.Reader, 2048)
		Expect(err).NotTo(HaveOccurred())
		sim, ident, err = superofficesim.NewEnvironment(
			superofficesim.Options{ClientID: clientID, ClientSecret: clientSec, AppPublicKey: &appKey.PublicKey},
			superofficesim.IdentityOptions{AppName: "SOE2E"})
		Expect(err).NotTo(HaveOccurred())
		rest = sim.RegisterREST()
		rest.SetSystemTokens(ident.SystemToken)
		simSrv := sim.Start()
		DeferCleanup(simSrv.Close)

		var mctx context.Context
		mctx, cancel = context.WithCancel(ctx)
		mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
			Cache: controllers.CacheOptions(), Client: controllers.ClientOptions()})
		Expect(err).NotTo(HaveOccurred())

		// The production wiring: keys from the simulator's JWKS, the system
		// user, one REST service for the environment.
		ks, err := superoffice.NewKeySet(mctx, superoffice.KeySetOptions{JWKSURL: simSrv.URL + "/login/.well-known/jwks"})
		Expect(err).NotTo(HaveOccurred())
		su, err := superoffice.NewSystemUser(superoffice.SystemUserOptions{Environment: env,
			AuthenticateURL: simSrv.URL + superoffice.SystemUserAuthenticatePath, ApplicationToken: clientSec, PrivateKey: appKey, Keyfunc: ks.Keyfunc()})
		Expect(err).NotTo(HaveOccurred())
		moved := provision.EndpointUpdater(mgr.GetClient(), env)
		svc, err := superoffice.NewRESTService(superoffice.RESTOptions{Environment: env, AppToken: clientSec, StateAPIBaseURL: simSrv.URL + "/api/state/",
			Limits: superoffice.Limits{TenantRate: tenantRate, TenantBurst: tenantBurst, GlobalRate: 50, GlobalBurst: 50, MaxWait: 50 * time.Millisecond},
			OnEndpointMoved: func(tenant, u string) {
				defer GinkgoRecover()
				Expect(moved(mctx, tenant, u)).To(Succeed())
			}})
		Expect(err).NotTo(HaveOccurred())
		provs := provision.NewSuperOffice(provision.SuperOfficeOptions{Environment: env, AppName: appName, Client: mgr.GetClient(),
			APIReader: mgr.GetAPIReader(), REST: svc, SystemUser: su,
			WebhookBaseURL: "https://hooks.example.com", PublicBaseURL: "https://apps.example.com",
			// Short, so a revoked consent shows within seconds in this suite.
			RecheckAfter: 2 * time.Second})
		for k, p := range provs {
			provs[k] = timedProvisioner{inner: p, mu: &callMu, max: &maxCall, what: &maxWhat}
		}
		Expect((&controllers.TenantInstallationReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tenant-operator"),
			Renderer: blueprint.Renderer{Mapper: mgr.GetRESTMapper(), AppName: appName},
			Provisioners: provision.Registry{
				Kubernetes:  &provision.Kubernetes{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()},
				SuperOffice: provs,
			},
			Environment: env, DeletionTimeout: 3 * time.Second, ResyncInterval: 3 * time.Second,
		}).SetupWithManager(mgr)).To(Succeed())
		go func() {
			defer GinkgoRecover()
			Expect(mgr.Start(mctx)).To(Succeed())
		}()
		Expect(mgr.GetCache().WaitForCacheSync(mctx)).To(BeTrue())

		Expect(k8s.Create(ctx, &tenancyv1alpha1.TenantBlueprint{ObjectMeta: metav1.ObjectMeta{Name: "so-sample"}, Spec: sample()})).To(Succeed())
	})

	AfterAll(func() {
		if cancel != nil {
			cancel()
		}
		if cp != nil {
			Expect(cp.Stop()).To(Succeed())
		}
	})

	// install adds the tenant to the simulator and creates its installation
	// and credentials Secret as the callback server does.
	install := func(tenant string, blueprintName string) client.ObjectKey {
		sim.AddTenant(superofficesim.Tenant{ContextID: tenant, Serial: strings.TrimPrefix(tenant, "Cust")})
		name := tenancyv1alpha1.InstallationName(env, tenant)
		labels := map[string]string{
			tenancyv1alpha1.ManagedByLabel:    tenancyv1alpha1.ManagedByValue,
			tenancyv1alpha1.InstallationLabel: tenancyv1alpha1.InstallationLabelValue(ns, name),
			tenancyv1alpha1.EnvironmentLabel:  env,
		}
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-credentials", Labels: labels},
			Data: map[string][]byte{provision.CredentialsKeySystemToken: []byte(ident.SystemToken(tenant))}})).To(Succeed())
		Expect(k8s.Create(ctx, &tenancyv1alpha1.TenantInstallation{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec: tenancyv1alpha1.TenantInstallationSpec{TenantID: tenant, Environment: env, Blueprint: blueprintName,
				Endpoints:            tenancyv1alpha1.Endpoints{WebAPIURL: rest.TenantAPIURL(tenant)},
				CredentialsSecretRef: &tenancyv1alpha1.LocalSecretReference{Name: name + "-credentials"}},
		})).To(Succeed())
		return client.ObjectKey{Namespace: ns, Name: name}
	}
	get := func(key client.ObjectKey) *tenancyv1alpha1.TenantInstallation {
		ti := &tenancyv1alpha1.TenantInstallation{}
		ExpectWithOffset(1, k8s.Get(ctx, key, ti)).To(Succeed())
		return ti
	}
	ready := func(key client.ObjectKey) {
		EventuallyWithOffset(1, func(g Gomega) {
			ti := &tenancyv1alpha1.TenantInstallation{}
			g.Expect(k8s.Get(ctx, key, ti)).To(Succeed())
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "conditions: %+v provisioned: %+v", ti.Status.Conditions, ti.Status.Provisioned)
		}, timeout, poll).Should(Succeed())
	}
	liveKinds := func(tenant string) map[string]int {
		out := map[string]int{}
		for _, o := range rest.Objects(tenant) {
			out[o.Kind]++
		}
		return out
	}
	oneOfEach := map[string]int{"WebPanel": 1, "UdefField": 1, "TaskMenu": 1, "Preference": 1, "Webhook": 1}
	annotate := func(key client.ObjectKey, k, v string) {
		ti := get(key)
		patch := client.MergeFrom(ti.DeepCopy())
		if ti.Annotations == nil {
			ti.Annotations = map[string]string{}
		}
		ti.Annotations[k] = v
		ExpectWithOffset(1, k8s.Patch(ctx, ti, patch)).To(Succeed())
	}
	uninstalled := func(key client.ObjectKey, tenant string) {
		Expect(k8s.Delete(ctx, get(key))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, key, &tenancyv1alpha1.TenantInstallation{}))
		}, timeout, poll).Should(BeTrue())
		Expect(rest.Objects(tenant)).To(BeEmpty(), "objects left in SuperOffice")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: "so-" + strings.ToLower(tenant)}, &corev1.Namespace{}))
		}, timeout, poll).Should(BeTrue(), "the tenant namespace is gone")
		secrets := &corev1.SecretList{}
		Expect(k8s.List(ctx, secrets, client.InNamespace(ns), client.MatchingLabels{provision.WebhookTenantLabel: strings.ToLower(tenant)})).To(Succeed())
		Expect(secrets.Items).To(BeEmpty(), "webhook Secrets left")
	}

	It("installs every artifact once, counts usage, and uninstalls to zero (items 1, 6, 8)", func() {
		const tenant = "Cust6001"
		key := install(tenant, "so-sample")
		ready(key)
		ti := get(key)
		for _, e := range ti.Status.Provisioned {
			Expect(e.State).To(Equal(tenancyv1alpha1.ArtifactReady), "%+v", e)
			if e.Target == tenancyv1alpha1.TargetSuperOffice {
				Expect(e.RemoteID).NotTo(BeEmpty(), "%+v", e)
			}
		}
		Expect(ti.Status.Provisioned).To(ContainElements(
			HaveField("Kind", provision.KindWebPanel), HaveField("Kind", provision.KindUserDefinedField),
			HaveField("Kind", provision.KindButton), HaveField("Kind", provision.KindPreference), HaveField("Kind", provision.KindWebhook)))
		Expect(liveKinds(tenant)).To(Equal(oneOfEach))
		for _, o := range rest.Objects(tenant) {
			if o.Kind == "WebPanel" {
				Expect(o.Fields["Description"]).To(ContainSubstring(appName))
				Expect(o.Fields["Url"]).To(ContainSubstring("ctx=" + tenant))
			}
			if o.Kind == "UdefField" {
				Expect(o.Published).To(BeTrue())
			}
		}
		Expect(meta.IsStatusConditionTrue(ti.Status.Conditions, tenancyv1alpha1.ConditionCredentialsValid)).To(BeTrue())

		By("usage in status moves with the requests SuperOffice saw (item 8)")
		Eventually(func(g Gomega) {
			ti := get(key)
			st := rest.Stats(tenant)
			g.Expect(ti.Status.Usage).NotTo(BeNil())
			g.Expect(ti.Status.Usage.Requests).To(BeEquivalentTo(st.REST+st.Exchanges+st.StateReads), "usage %+v, simulator %+v", ti.Status.Usage, st)
			g.Expect(ti.Status.Usage.Bytes).To(BeNumerically(">", 0))
		}, timeout, poll).Should(Succeed())
		installStats := rest.Stats(tenant)
		rest.ResetStats(tenant)

		By("uninstall: SuperOffice first, then the cluster; nothing left (item 6)")
		uninstalled(key, tenant)
		un := rest.Stats(tenant)
		AddReportEntry("requests per installation (sample blueprint, one of each kind)",
			fmt.Sprintf("install: %d REST + %d exchange + %d state; uninstall: %d REST + %d exchange (API floor: 7 + 1 to install, 7 to uninstall)",
				installStats.REST, installStats.Exchanges, installStats.StateReads, un.REST, un.Exchanges))
		GinkgoWriter.Printf("install log: %v\nuninstall log: %v\n", installStats.Log, un.Log)
	})

	It("adopts an object whose create answer was lost: still exactly one (item 2)", func() {
		const tenant = "Cust6002"
		sim.AddTenant(superofficesim.Tenant{ContextID: tenant})
		rest.InjectFault(tenant, superofficesim.Fault{Kind: superofficesim.FaultFailAfterCreate, Times: 1, Method: "POST", PathContains: "WebPanel/Items"})
		rest.InjectFault(tenant, superofficesim.Fault{Kind: superofficesim.FaultFailAfterCreate, Times: 1, Method: "POST", PathContains: "Webhook"})
		key := install(tenant, "so-sample")
		ready(key)
		Expect(liveKinds(tenant)).To(Equal(oneOfEach))
		var creates int
		for _, l := range rest.Stats(tenant).Log {
			if l == "POST v1/List/WebPanel/Items" {
				creates++
			}
		}
		Expect(creates).To(Equal(1), "the lost create was adopted, not repeated")
		uninstalled(key, tenant)
	})

	It("shows Throttled under a 429 storm, never exceeds the rate and never holds a worker (item 3)", func() {
		const tenant = "Cust6003"
		sim.AddTenant(superofficesim.Tenant{ContextID: tenant})
		rest.InjectFault(tenant, superofficesim.Fault{Kind: superofficesim.FaultTooManyRequests, Times: 4, RetryAfter: "2"})
		callMu.Lock()
		maxCall = 0
		callMu.Unlock()
		key := install(tenant, "so-sample")
		Eventually(func(g Gomega) {
			ti := get(key)
			c := meta.FindStatusCondition(ti.Status.Conditions, tenancyv1alpha1.ConditionThrottled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring("continues at"))
		}, timeout, 20*time.Millisecond).Should(Succeed())
		ready(key)
		Expect(liveKinds(tenant)).To(Equal(oneOfEach))
		st := rest.Stats(tenant)
		// A token bucket admits at most burst + rate requests in any one-second window.
		Expect(st.MaxPerSecond).To(BeNumerically("<=", tenantBurst+tenantRate), "log: %v", st.Log)
		Expect(get(key).Status.Usage.Throttled).To(BeNumerically(">=", 1))
		callMu.Lock()
		longest, what := maxCall, maxWhat
		callMu.Unlock()
		// Retry-After was 2s: a worker that slept it out would show it here.
		Expect(longest).To(BeNumerically("<", 2*time.Second), "a provisioner call took %s: %s", longest, what)
		uninstalled(key, tenant)
	})

	It("follows a moved tenant (421) and records its new endpoint (item 4)", func() {
		const tenant = "Cust6004"
		sim.AddTenant(superofficesim.Tenant{ContextID: tenant})
		rest.MoveTenant(tenant, "before-install") // the installation is made with the new address
		key := install(tenant, "so-sample")
		ready(key)
		rest.MoveTenant(tenant, "online9")
		annotate(key, tenancyv1alpha1.ReconcileRequestAnnotation, "move-1")
		Eventually(func(g Gomega) {
			g.Expect(get(key).Spec.Endpoints.WebAPIURL).To(Equal(rest.TenantAPIURL(tenant)))
		}, timeout, poll).Should(Succeed())
		ready(key)
		Expect(rest.Stats(tenant).StateReads).To(BeNumerically(">=", 1))
		Expect(liveKinds(tenant)).To(Equal(oneOfEach))
		uninstalled(key, tenant)
	})

	It("removes a dropped web panel and creates and publishes a new UDF on a blueprint change (item 5)", func() {
		const tenant = "Cust6005"
		spec := sample()
		Expect(k8s.Create(ctx, &tenancyv1alpha1.TenantBlueprint{ObjectMeta: metav1.ObjectMeta{Name: "so-change"}, Spec: spec})).To(Succeed())
		key := install(tenant, "so-change")
		ready(key)
		bp := &tenancyv1alpha1.TenantBlueprint{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "so-change"}, bp)).To(Succeed())
		bp.Spec.SuperOffice.WebPanels = nil
		bp.Spec.SuperOffice.UserDefinedFields = append(bp.Spec.SuperOffice.UserDefinedFields,
			tenancyv1alpha1.UserDefinedField{Entity: "Sale", ProgID: "soe2e.region", Label: "Region", Type: "ShortText"})
		Expect(k8s.Update(ctx, bp)).To(Succeed())
		Eventually(func(g Gomega) {
			kinds := liveKinds(tenant)
			g.Expect(kinds["WebPanel"]).To(BeZero())
			g.Expect(kinds["UdefField"]).To(Equal(2))
			var region *superofficesim.Object
			for _, o := range rest.Objects(tenant) {
				if o.ID == "soe2e.region" {
					region = &o
				}
			}
			g.Expect(region).NotTo(BeNil())
			g.Expect(region.Published).To(BeTrue())
			ti := get(key)
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady))
			g.Expect(ti.Status.Provisioned).NotTo(ContainElement(HaveField("Kind", provision.KindWebPanel)))
			g.Expect(ti.Status.Provisioned).To(ContainElement(HaveField("Name", "soe2e.region")))
		}, timeout, poll).Should(Succeed())
		uninstalled(key, tenant)
	})

	It("shows revoked consent, lists what remains on uninstall, and releases on the annotation (item 7)", func() {
		const tenant = "Cust6006"
		key := install(tenant, "so-sample")
		ready(key)
		rest.RevokeConsent(tenant, true)
		annotate(key, tenancyv1alpha1.ReconcileRequestAnnotation, "after-revoke")
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(get(key).Status.Conditions, tenancyv1alpha1.ConditionCredentialsValid)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("https://apps.example.com/install?env=" + env))
			g.Expect(c.Message).NotTo(ContainSubstring(ident.SystemToken(tenant)))
		}, timeout, poll).Should(Succeed())

		Expect(k8s.Delete(ctx, get(key))).To(Succeed())
		Eventually(func(g Gomega) {
			ti := get(key)
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseUninstalling))
			g.Expect(ti.Status.Provisioned).NotTo(BeEmpty())
			st := meta.FindStatusCondition(ti.Status.Conditions, tenancyv1alpha1.ConditionStalled)
			g.Expect(st).NotTo(BeNil(), "conditions: %+v", ti.Status.Conditions)
			g.Expect(st.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(st.Message).To(ContainSubstring(tenancyv1alpha1.ReleaseAnnotation))
		}, timeout, poll).Should(Succeed())
		Expect(rest.Objects(tenant)).NotTo(BeEmpty(), "nothing could be removed without access")

		annotate(key, tenancyv1alpha1.ReleaseAnnotation, "true")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, key, &tenancyv1alpha1.TenantInstallation{}))
		}, timeout, poll).Should(BeTrue())
		Eventually(func(g Gomega) {
			evs := &corev1.EventList{}
			g.Expect(k8s.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
			found := false
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == key.Name && ev.Reason == "Released" && strings.Contains(ev.Message, "WebPanel") {
					found = true
				}
			}
			g.Expect(found).To(BeTrue(), "a Released event naming what was left")
		}, timeout, poll).Should(Succeed())
	})
})
