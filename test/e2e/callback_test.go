package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/callback"
	"github.com/tenant-operator/tenant-operator/internal/config"
	"github.com/tenant-operator/tenant-operator/internal/provision"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

const (
	cbEnv       = "sim"
	cbTenant    = "Cust4242"
	cbNamespace = "tenant-installs"
	cbClientID  = "e2e-client"
	cbSecret    = "e2e-secret"
)

// TestCallbackFullFlow drives the whole install and uninstall through real
// HTTP, as an administrator's browser would: the simulator's SuperOffice
// login, the callback server, the API server and the reconciler.
func TestCallbackFullFlow(t *testing.T) {
	g := NewWithT(t)
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(tenancyv1alpha1.AddToScheme(scheme))

	cp, err := controlplane.Start(controlplane.Options{CRDDirectoryPaths: []string{controlplane.CRDPath()}, ControllerManager: true})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = cp.Stop() })
	k8s, err := client.New(cp.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cbNamespace}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &tenancyv1alpha1.TenantBlueprint{
		ObjectMeta: metav1.ObjectMeta{Name: tenancyv1alpha1.DefaultBlueprint},
		Spec: tenancyv1alpha1.TenantBlueprintSpec{Kubernetes: tenancyv1alpha1.KubernetesBlueprint{
			NamespaceTemplate: "tenant-{{ .Environment }}-{{ .TenantIDLower }}",
			NetworkIsolation:  ptr.To(true),
		}},
	})).To(Succeed())

	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(),
		Client:  controllers.ClientOptions(),
		// Other specs of this package run their own managers in the same
		// process; controller names are unique per process otherwise.
		Controller: crconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	renderer := blueprint.Renderer{Mapper: mgr.GetRESTMapper(), AppName: "E2E App"}
	g.Expect((&controllers.TenantInstallationReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder("tenant-operator"),
		Renderer:     renderer,
		Provisioners: provision.Registry{Kubernetes: &provision.Kubernetes{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}},
		Environment:  cbEnv,
	}).SetupWithManager(mgr)).To(Succeed())

	// SuperOffice, simulated, on loopback.
	sim, id, err := superofficesim.NewEnvironment(superofficesim.Options{ClientID: cbClientID, ClientSecret: cbSecret},
		superofficesim.IdentityOptions{User: superofficesim.User{Tenant: cbTenant, AssociateID: 3, Email: "boss@example.com",
			UPN: "boss@example.com", IsAdministrator: true}, AppName: "E2EApp"})
	g.Expect(err).NotTo(HaveOccurred())
	sim.AddTenant(superofficesim.Tenant{ContextID: cbTenant, Serial: "4242", CompanyName: "E2E AS"})
	simSrv := sim.Start()
	t.Cleanup(simSrv.Close)

	// The callback server, on loopback, wired as the manager wires it.
	var handler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	cfg := &config.Config{
		Environment: config.Environment{Name: cbEnv, Issuer: simSrv.URL,
			AuthorizeURL: simSrv.URL + "/login/common/oauth/authorize", TokenURL: simSrv.URL + "/login/common/oauth/tokens",
			JWKSURL: simSrv.URL + "/login/.well-known/jwks", ClientID: cbClientID, RedirectURL: ts.URL + "/callback"},
		AppName:      "E2EApp",
		Callback:     config.Callback{Namespace: cbNamespace},
		ClientSecret: config.NewSecret([]byte(cbSecret)),
		SessionKey:   config.NewSecret(bytes.Repeat([]byte{9}, 32)),
	}
	ks, err := superoffice.NewKeySet(ctx, superoffice.KeySetOptions{JWKSURL: cfg.Environment.JWKSURL})
	g.Expect(err).NotTo(HaveOccurred())
	v, err := superoffice.NewVerifier(ks, superoffice.VerifierOptions{Issuers: []string{simSrv.URL}, ClientID: cbClientID,
		Leeway: 30 * time.Second, AllowHTTPURLs: true})
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := callback.New(callback.Options{Config: cfg, Verifier: v, Reader: mgr.GetClient(), Writer: mgr.GetClient(),
		WriterReader: mgr.GetAPIReader()})
	g.Expect(err).NotTo(HaveOccurred())
	handler = srv.Handler()

	go func() { _ = mgr.Start(ctx) }()
	g.Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())

	b := newCBBrowser(t, ts.URL, simSrv.URL)
	name := tenancyv1alpha1.InstallationName(cbEnv, cbTenant)

	// Install: consent, callback, straight to the status page.
	cbURL := b.signIn("/install")
	res := b.get(cbURL)
	g.Expect(res.status).To(Equal(http.StatusSeeOther), res.body)
	g.Expect(res.location).To(Equal("/installations/" + name))

	ti := &tenancyv1alpha1.TenantInstallation{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cbNamespace, Name: name}, ti)).To(Succeed())
	g.Expect(ti.Spec.TenantID).To(Equal(cbTenant))
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cbNamespace, Name: name + "-credentials"}, sec)).To(Succeed())
	g.Expect(string(sec.Data[callback.SecretKeySystemToken])).To(Equal(id.SystemToken(cbTenant)))
	g.Expect(sec.OwnerReferences).To(HaveLen(1))
	g.Expect(sec.OwnerReferences[0].UID).To(Equal(ti.UID))

	// The status page follows provisioning and ends showing the provisioned list.
	var view struct {
		Phase       string
		Provisioned []struct{ Target, Kind, Name, State string }
		Removed     bool
	}
	g.Eventually(func(g Gomega) {
		r := b.get("/installations/"+name, "Accept", "application/json")
		g.Expect(r.status).To(Equal(http.StatusOK), r.body)
		g.Expect(json.Unmarshal([]byte(r.body), &view)).To(Succeed())
		g.Expect(view.Phase).To(Equal("Ready"))
		g.Expect(view.Provisioned).To(ContainElement(HaveField("Kind", "Namespace")))
	}, 60*time.Second, 250*time.Millisecond).Should(Succeed())
	page := b.get("/installations/" + name)
	g.Expect(page.body).To(ContainSubstring("tenant-" + cbEnv + "-" + strings.ToLower(cbTenant)))
	g.Expect(page.body).To(ContainSubstring("What is provisioned"))

	// The same callback twice: refused, and still one installation. A second
	// complete install updates the same one.
	g.Expect(b.get(cbURL).status).To(Equal(http.StatusConflict))
	g.Expect(b.get(b.signIn("/install")).status).To(Equal(http.StatusSeeOther))
	var list tenancyv1alpha1.TenantInstallationList
	g.Expect(k8s.List(ctx, &list)).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1))

	// Uninstall through the pages: re-authenticate, confirm, follow removal.
	confirm := b.get(b.signIn("/uninstall"))
	g.Expect(confirm.status).To(Equal(http.StatusSeeOther), confirm.body)
	form := b.get(confirm.location)
	g.Expect(form.status).To(Equal(http.StatusOK), form.body)
	csrf := cbBetween(form.body, `name="csrf" value="`, `"`)
	g.Expect(csrf).NotTo(BeEmpty())
	done := b.post(confirm.location, url.Values{"csrf": {csrf}})
	g.Expect(done.status).To(Equal(http.StatusSeeOther), done.body)
	g.Eventually(func(g Gomega) {
		r := b.get("/installations/"+name, "Accept", "application/json")
		g.Expect(r.status).To(Equal(http.StatusOK), r.body)
		g.Expect(json.Unmarshal([]byte(r.body), &view)).To(Succeed())
		g.Expect(view.Removed).To(BeTrue())
	}, 90*time.Second, 500*time.Millisecond).Should(Succeed())
	g.Eventually(func() bool {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: cbNamespace, Name: name}, &tenancyv1alpha1.TenantInstallation{})
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 250*time.Millisecond).Should(BeTrue())
	// The credentials go with the installation (garbage collection by owner).
	g.Eventually(func() bool {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: cbNamespace, Name: name + "-credentials"}, &corev1.Secret{})
		return apierrors.IsNotFound(err)
	}, 60*time.Second, 500*time.Millisecond).Should(BeTrue())
}

type cbBrowser struct {
	t           *testing.T
	c           *http.Client
	base, simRo string
}

func newCBBrowser(t *testing.T, base, sim string) *cbBrowser {
	jar, _ := cookiejar.New(nil)
	return &cbBrowser{t: t, base: base, simRo: sim,
		c: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type cbAnswer struct {
	status         int
	location, body string
}

func (b *cbBrowser) do(req *http.Request) cbAnswer {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return cbAnswer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

func (b *cbBrowser) get(u string, header ...string) cbAnswer {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *cbBrowser) post(path string, form url.Values) cbAnswer {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// signIn follows path to SuperOffice's authorize endpoint, which consents,
// and returns the callback URL it sends the browser back to.
func (b *cbBrowser) signIn(path string) string {
	b.t.Helper()
	first := b.get(path)
	if first.status != http.StatusFound || !strings.HasPrefix(first.location, b.simRo) {
		b.t.Fatalf("%s: %d %q", path, first.status, first.location)
	}
	second := b.get(first.location)
	if second.status != http.StatusFound || !strings.HasPrefix(second.location, b.base+"/callback") {
		b.t.Fatalf("authorize: %d %q %s", second.status, second.location, second.body)
	}
	return second.location
}

func cbBetween(s, a, z string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, z)
	if j < 0 {
		return ""
	}
	return s[:j]
}
