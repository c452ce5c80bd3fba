package e2e

// Helpers for specs that run bin/manager processes against one control
// plane: a SuperOffice simulator, manager configs, manager processes.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
	"github.com/tenant-operator/tenant-operator/test/procgroup"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

const (
	procClientID = "e2e-process-client"
	// procBlueprint provisions only Kubernetes objects, so these specs
	// observe which manager reconciled what without SuperOffice calls.
	procBlueprint = "kubernetes-only"
)

// simForManagers is a simulator (over TLS when asked, for the built-in
// environments that require https) and the secret files managers use.
type simForManagers struct {
	server       *httptest.Server
	caFile       string // PEM of the TLS server's certificate, for SSL_CERT_FILE
	keyFile      string
	secretFile   string
	sessionFile  string
	clientSecret string
}

func startSimForManagers(dir string, useTLS bool) (*simForManagers, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s := &simForManagers{
		keyFile:      filepath.Join(dir, "app-key.pem"),
		secretFile:   filepath.Join(dir, "client-secret"),
		sessionFile:  filepath.Join(dir, "session-key"),
		clientSecret: randHex(16),
	}
	if err := os.WriteFile(s.keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.secretFile, []byte(s.clientSecret), 0o600); err != nil {
		return nil, err
	}
	// Every replica of one instance must share the session key.
	if err := os.WriteFile(s.sessionFile, []byte(randHex(32)), 0o600); err != nil {
		return nil, err
	}
	sim, id, err := superofficesim.NewEnvironment(
		superofficesim.Options{ClientID: procClientID, ClientSecret: s.clientSecret, AppPublicKey: &key.PublicKey},
		superofficesim.IdentityOptions{User: superofficesim.User{Tenant: "Cust1001", AssociateID: 5, UPN: "admin@example.com", Email: "admin@example.com", IsAdministrator: true}})
	if err != nil {
		return nil, err
	}
	sim.AddTenant(superofficesim.Tenant{ContextID: "Cust1001", Serial: "1001", CompanyName: "Example AS"})
	sim.RegisterREST().SetSystemTokens(id.SystemToken)
	if useTLS {
		s.server = httptest.NewTLSServer(sim.Handler())
		s.caFile = filepath.Join(dir, "simulator-ca.pem")
		if err := os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.server.Certificate().Raw}), 0o600); err != nil {
			s.server.Close()
			return nil, err
		}
	} else {
		s.server = httptest.NewServer(sim.Handler())
	}
	sim.SetBaseURL(s.server.URL)
	return s, nil
}

// writeManagerConfig writes the manager config of one environment into dir.
// Built-in environments (sod, stage, online) get every URL explicitly, on
// the simulator; custom ones derive them from its login host.
func (s *simForManagers) writeManagerConfig(dir, env, namespace string, callbackPort int) (string, error) {
	base := s.server.URL
	e := map[string]any{
		"name":              env,
		"clientID":          procClientID,
		"clientSecretFile":  s.secretFile,
		"appPrivateKeyFile": s.keyFile,
	}
	scheme := "http"
	switch env {
	case "sod", "stage", "online":
		scheme = "https"
		e["issuer"] = base
		e["authorizeURL"] = base + "/login/common/oauth/authorize"
		e["tokenURL"] = base + "/login/common/oauth/tokens"
		e["jwksURL"] = base + "/login/.well-known/jwks"
		e["systemUserURL"] = base + "/Login/api/PartnerSystemUser/Authenticate"
		e["stateAPIBaseURL"] = base + "/api/state/"
	default:
		e["loginHost"] = base
	}
	e["redirectURL"] = fmt.Sprintf("%s://127.0.0.1:%d/callback", scheme, callbackPort)
	raw, err := yaml.Marshal(map[string]any{
		"environment":    e,
		"appName":        "Partner App (e2e)",
		"sessionKeyFile": s.sessionFile,
		"callback":       map[string]any{"namespace": namespace},
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "config-"+env+".yaml")
	return path, os.WriteFile(path, raw, 0o600)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// managerProcess is one bin/manager child process.
type managerProcess struct {
	name        string
	cmd         *exec.Cmd
	probePort   int
	metricsPort int
	callback    int
	done        chan struct{}
	err         error
	log         *bytes.Buffer
	mu          sync.Mutex
}

type managerSpec struct {
	name             string // for messages
	configPath       string
	environment      string
	leaderElectionID string
	leaseNamespace   string
	kubeconfig       string
	extraEnv         []string
	callbackPort     int // 0: no callback server
}

func startManagerProcess(ms managerSpec) (*managerProcess, error) {
	bin, err := buildBinary("manager", "./cmd/manager")
	if err != nil {
		return nil, err
	}
	probe, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	callbackAddr := "0"
	if ms.callbackPort != 0 {
		callbackAddr = fmt.Sprintf("127.0.0.1:%d", ms.callbackPort)
	}
	args := []string{
		"--config=" + ms.configPath,
		"--environment=" + ms.environment,
		"--leader-elect",
		"--leader-election-id=" + ms.leaderElectionID,
		"--leader-election-namespace=" + ms.leaseNamespace,
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
		"--callback-bind-address=" + callbackAddr,
	}
	m := &managerProcess{name: ms.name, probePort: probe, metricsPort: metrics, callback: ms.callbackPort, done: make(chan struct{}), log: &bytes.Buffer{}}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+ms.kubeconfig)
	cmd.Env = append(cmd.Env, ms.extraEnv...)
	w := &lockedWriter{mu: &m.mu, w: m.log}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start manager %s: %w", ms.name, err)
	}
	m.cmd = cmd
	go func() { m.err = cmd.Wait(); close(m.done) }()
	return m, nil
}

func (m *managerProcess) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

func (m *managerProcess) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz until it answers 200.
func (m *managerProcess) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", m.probePort)
	for {
		if status, _, err := httpGet(hc, url); err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-m.done:
			return fmt.Errorf("manager %s exited (%v):\n%s", m.name, m.err, m.Log())
		case <-ctx.Done():
			return fmt.Errorf("manager %s not ready:\n%s", m.name, m.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isLeader reads controller-runtime's leader gauge from /metrics.
func (m *managerProcess) isLeader() bool {
	status, body, err := httpGet(&http.Client{Timeout: time.Second}, fmt.Sprintf("http://127.0.0.1:%d/metrics", m.metricsPort))
	if err != nil || status != http.StatusOK {
		return false
	}
	return leaderGauge.MatchString(body)
}

// leaderGauge is controller-runtime's gauge, 1 on the replica that leads.
var leaderGauge = regexp.MustCompile(`(?m)^leader_election_master_status\{[^}]*\} 1$`)

// stop ends the manager gracefully, then by force.
func (m *managerProcess) stop() {
	if m == nil || m.cmd == nil || m.exited() {
		return
	}
	procgroup.Stop(m.cmd.Process.Pid, m.done, 15*time.Second)
}

// kill9 ends the manager as a crash would: no lease release, no cleanup.
func (m *managerProcess) kill9() {
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
}

// createProcessFixtures makes the installations' namespace and the
// Kubernetes-only blueprint.
func createProcessFixtures(ctx context.Context, k8s client.Client, namespace string) error {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	return k8s.Create(ctx, &tenancyv1alpha1.TenantBlueprint{
		ObjectMeta: metav1.ObjectMeta{Name: procBlueprint},
		Spec: tenancyv1alpha1.TenantBlueprintSpec{Kubernetes: tenancyv1alpha1.KubernetesBlueprint{
			NamespaceTemplate: "tenant-{{ .Environment }}-{{ .TenantIDLower }}",
			NetworkIsolation:  ptr.To(true),
			ExtraManifests: []string{`apiVersion: v1
kind: ConfigMap
metadata:
  name: tenant-settings
data:
  environment: {{ .Environment | quote }}
`},
		}},
	})
}

// newInstallation is an installation of tenant in env using procBlueprint.
func newInstallation(namespace, env, tenant string) *tenancyv1alpha1.TenantInstallation {
	return &tenancyv1alpha1.TenantInstallation{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: env + "-" + lower(tenant),
			Labels: map[string]string{"tenancy.tenant-operator.io/environment": env}},
		Spec: tenancyv1alpha1.TenantInstallationSpec{TenantID: tenant, Environment: env, Blueprint: procBlueprint},
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

// processFixture is what the specs that run manager processes share: a
// control plane with kube-controller-manager, a client, the installations'
// and the leases' namespaces, a work directory and a simulator.
type processFixture struct {
	cp  *controlplane.ControlPlane
	k8s client.Client
	sim *simForManagers
	dir string
}

// startProcessFixture sets the fixture up inside a BeforeAll and registers
// its cleanup. stopManagers runs before the control plane stops, so no
// manager outlives the API server it talks to.
func startProcessFixture(ctx context.Context, name, installNS, leaseNS string, simTLS bool, stopManagers func()) *processFixture {
	f := &processFixture{}
	var err error
	f.cp, err = controlplane.Start(controlplane.Options{CRDDirectoryPaths: []string{controlplane.CRDPath()}, ControllerManager: true})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(f.cp.Stop)
	// Registered after cp.Stop, so it runs before it.
	DeferCleanup(stopManagers)
	f.k8s, err = client.New(f.cp.Config, client.Options{Scheme: testScheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(createProcessFixtures(ctx, f.k8s, installNS)).To(Succeed())
	Expect(f.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}})).To(Succeed())

	f.dir, err = os.MkdirTemp("", "e2e-"+name+"-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, f.dir)
	f.sim, err = startSimForManagers(f.dir, simTLS)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(f.sim.server.Close)
	return f
}
