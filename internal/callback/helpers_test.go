package callback

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/config"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

const (
	testClientID = "callback-test-client"
	testSecret   = "callback-test-secret"
	testTenant   = "Cust12345"
	otherTenant  = "Cust777"
	testNS       = "tenants"
	testEnv      = "sim"
)

var adminUser = superofficesim.User{Tenant: testTenant, AssociateID: 7, Email: "admin@example.com", UPN: "admin@example.com", IsAdministrator: true}

// clock is a settable clock for state and session expiry.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// logSink collects every log line, to prove no token is ever logged.
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.b.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	t      testing.TB
	sim    *superofficesim.Simulator
	id     *superofficesim.Identity
	rest   *superofficesim.REST
	simURL string
	kube   client.WithWatch
	srv    *Server
	ts     *httptest.Server
	clock  *clock
	logs   *logSink
	cfg    *config.Config
}

type harnessOpts struct {
	burst          int
	objects        []client.Object
	trustedProxies []string
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	sim, id, err := superofficesim.NewEnvironment(superofficesim.Options{ClientID: testClientID, ClientSecret: testSecret},
		superofficesim.IdentityOptions{User: adminUser, AppName: "TestApp"})
	if err != nil {
		t.Fatal(err)
	}
	sim.AddTenant(superofficesim.Tenant{ContextID: testTenant, Serial: "12345", CompanyName: "Example AS"})
	sim.AddTenant(superofficesim.Tenant{ContextID: otherTenant, Serial: "777", CompanyName: "Other AS"})
	rest := sim.RegisterREST()
	simSrv := sim.Start()
	t.Cleanup(simSrv.Close)

	h := &harness{t: t, sim: sim, id: id, rest: rest, simURL: simSrv.URL, clock: &clock{}, logs: &logSink{}}
	var handler http.Handler
	h.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(h.ts.Close)

	scheme := runtime.NewScheme()
	if err := tenancyv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	h.kube = fake.NewClientBuilder().WithScheme(scheme).WithObjects(o.objects...).Build()

	h.cfg = &config.Config{
		Environment: config.Environment{
			Name: testEnv, Issuer: simSrv.URL,
			AuthorizeURL:    simSrv.URL + "/login/common/oauth/authorize",
			TokenURL:        simSrv.URL + "/login/common/oauth/tokens",
			JWKSURL:         simSrv.URL + "/login/.well-known/jwks",
			StateAPIBaseURL: simSrv.URL + "/api/state/",
			ClientID:        testClientID,
			RedirectURL:     h.ts.URL + "/callback",
		},
		AppName:      "TestApp",
		Callback:     config.Callback{Namespace: testNS, TrustedProxies: o.trustedProxies},
		ClientSecret: config.NewSecret([]byte(testSecret)),
		SessionKey:   config.NewSecret(bytes.Repeat([]byte{7}, 32)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ks, err := superoffice.NewKeySet(ctx, superoffice.KeySetOptions{JWKSURL: h.cfg.Environment.JWKSURL, UnknownKIDInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := superoffice.NewVerifier(ks, superoffice.VerifierOptions{Issuers: []string{simSrv.URL}, ClientID: testClientID,
		Leeway: 30 * time.Second, AllowHTTPURLs: true, Now: h.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	burst, limit := o.burst, rate.Limit(1000)
	if burst == 0 {
		burst = 1000
	} else {
		limit = rate.Every(time.Hour) // no refill during the test
	}
	h.srv, err = New(Options{Config: h.cfg, Verifier: v, Reader: h.kube, Writer: h.kube, Log: h.logs.logger(),
		Now: h.clock.now, ClientRate: limit, ClientBurst: burst})
	if err != nil {
		t.Fatal(err)
	}
	handler = h.srv.Handler()
	return h
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests can look at every hop.
func (h *harness) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type hop struct {
	status   int
	location string
	body     string
}

func do(t testing.TB, c *http.Client, req *http.Request) hop {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hop{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b)}
}

func (h *harness) get(c *http.Client, u string, header ...string) hop {
	h.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = h.ts.URL + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(h.t, c, req)
}

func (h *harness) postForm(c *http.Client, path string, form url.Values, header ...string) hop {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(h.t, c, req)
}

// authorize starts a sign-in at path (/install or /uninstall...) and lets
// the simulator consent; it returns the callback URL SuperOffice sends the
// browser to (not yet visited).
func (h *harness) authorize(c *http.Client, path string) string {
	h.t.Helper()
	first := h.get(c, path)
	if first.status != http.StatusFound || !strings.HasPrefix(first.location, h.simURL) {
		h.t.Fatalf("%s: want redirect to SuperOffice, got %d %q %s", path, first.status, first.location, first.body)
	}
	second := h.get(c, first.location)
	if second.status != http.StatusFound || !strings.HasPrefix(second.location, h.ts.URL+"/callback") {
		h.t.Fatalf("authorize: want redirect to callback, got %d %q %s", second.status, second.location, second.body)
	}
	return second.location
}

// install runs a whole install in browser c and returns the final hop.
func (h *harness) install(c *http.Client) hop {
	h.t.Helper()
	cb := h.get(c, h.authorize(c, "/install"))
	if cb.status != http.StatusSeeOther {
		h.t.Fatalf("callback: want 303, got %d %s", cb.status, cb.body)
	}
	return cb
}

func (h *harness) installations() []tenancyv1alpha1.TenantInstallation {
	h.t.Helper()
	var l tenancyv1alpha1.TenantInstallationList
	if err := h.kube.List(context.Background(), &l); err != nil {
		h.t.Fatal(err)
	}
	return l.Items
}

func (h *harness) secrets() []corev1.Secret {
	h.t.Helper()
	var l corev1.SecretList
	if err := h.kube.List(context.Background(), &l); err != nil {
		h.t.Fatal(err)
	}
	return l.Items
}

// assertNothingCreated fails when any installation or Secret exists.
func (h *harness) assertNothingCreated() {
	h.t.Helper()
	if n, m := len(h.installations()), len(h.secrets()); n != 0 || m != 0 {
		h.t.Errorf("want nothing created, found %d installation(s) and %d secret(s)", n, m)
	}
}

// authorizeParams are the query of the authorize redirect of a fresh /install.
func (h *harness) authorizeParams(c *http.Client, path string) url.Values {
	h.t.Helper()
	first := h.get(c, path)
	u, err := url.Parse(first.location)
	if err != nil || first.status != http.StatusFound {
		h.t.Fatalf("install: %d %q", first.status, first.location)
	}
	return u.Query()
}
