package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenant-operator/tenant-operator/test/controlplane"
	"github.com/tenant-operator/tenant-operator/test/procgroup"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

// runEmbedded starts the whole system and blocks until ctx ends (Ctrl-C),
// then stops everything it started and removes its work directory.
func runEmbedded(ctx context.Context, u *ui, o options, why string) (err error) {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	u.info("Starting tenant-operator on an embedded control plane (%s).", why)

	// Everything started is stopped in reverse order, on success and on
	// every failure path alike.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	dir, err := os.MkdirTemp("", "tenant-operator-devenv-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	cleanups = append(cleanups, func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			fmt.Fprintf(os.Stderr, "devenv: remove %s: %v\n", dir, rmErr)
		}
	})

	// 1. Control plane binaries (built from source once, then cached).
	t := time.Now()
	assets, err := envtestAssets(ctx, root)
	if err != nil {
		return err
	}
	u.step("control plane binaries (cached source build)", time.Since(t))

	// 2. The manager binary; go build caches, so a second start is quick.
	t = time.Now()
	manager, err := managerBinary(ctx, root, o.managerBinary)
	if err != nil {
		return err
	}
	u.step("manager binary ("+relTo(root, manager)+")", time.Since(t))

	// 3. etcd, kube-apiserver, kube-controller-manager and the CRDs.
	t = time.Now()
	if err := os.Setenv("KUBEBUILDER_ASSETS", assets); err != nil {
		return err
	}
	cp, err := controlplane.Start(controlplane.Options{
		CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")},
		ControllerManager: true,
	})
	if err != nil {
		return fmt.Errorf("start the control plane: %w", err)
	}
	cleanups = append(cleanups, func() {
		if stopErr := cp.Stop(); stopErr != nil {
			fmt.Fprintf(os.Stderr, "devenv: stop the control plane: %v\n", stopErr)
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := copyFile(cp.KubeconfigPath, kubeconfig); err != nil {
		return err
	}
	u.step("etcd, kube-apiserver, kube-controller-manager, CRDs", time.Since(t))

	// 4. The sample blueprint and the installations' namespace.
	t = time.Now()
	kube, err := client.New(cp.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if err := installSamples(ctx, kube, root); err != nil {
		return err
	}
	u.step("blueprint \"default\", namespace "+devNamespace, time.Since(t))

	// 5. The SuperOffice simulator, in this process.
	t = time.Now()
	simLn, err := listenLoopback(o.simulatorPort)
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	simURL := "http://" + simLn.Addr().String()
	callbackPort, err := pickPort(o.callbackPort)
	if err != nil {
		_ = simLn.Close()
		return fmt.Errorf("callback server: %w", err)
	}
	callbackURL := fmt.Sprintf("http://127.0.0.1:%d", callbackPort)
	files, err := writeDevFiles(dir, callbackURL, simURL)
	if err != nil {
		_ = simLn.Close()
		return err
	}
	sim, err := startSimulator(simLn, o, files, callbackURL)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sim.Shutdown(sctx)
	})
	u.step(fmt.Sprintf("SuperOffice simulator with tenant %s", o.tenant), time.Since(t))

	// 6. The manager, a child process in its own process group.
	t = time.Now()
	probePort, err := pickPort(0)
	if err != nil {
		return err
	}
	metricsPort, err := pickPort(0)
	if err != nil {
		return err
	}
	args := []string{
		"--config=" + files.ConfigFile,
		"--environment=" + devEnvironment,
		"--leader-elect=false",
		fmt.Sprintf("--callback-bind-address=127.0.0.1:%d", callbackPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
	}
	args = append(args, o.managerArgs...)
	logFile, err := os.OpenFile(files.ManagerLogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var logOut io.Writer = logFile
	if o.showLogs {
		logOut = io.MultiWriter(logFile, os.Stderr)
	}
	child, err := startManager(manager, args, kubeconfig, logOut)
	if err != nil {
		_ = logFile.Close()
		return err
	}
	cleanups = append(cleanups, func() {
		child.stop(15 * time.Second)
		_ = logFile.Close()
	})
	readyCtx, cancel := context.WithTimeout(ctx, o.readyTimeout)
	err = waitReady(readyCtx, child, []string{
		fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort),
		callbackURL + "/healthz",
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			u.info("Interrupted; stopping.")
			return nil
		}
		return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, files.ManagerLogFile, tail(files.ManagerLogFile, 40))
	}
	u.step("manager (reconciler and callback server)", time.Since(t))

	printBanner(u, bannerInput{
		ready: time.Since(u.start), callbackURL: callbackURL, simulatorURL: simURL, tenant: o.tenant,
		kubeconfig: kubeconfig, kubectl: kubectlPath(assets), dir: dir, managerLog: files.ManagerLogFile,
		managerPID: child.cmd.Process.Pid, autoConsent: o.autoConsent,
	})

	select {
	case <-ctx.Done():
		u.info("\nStopping: manager, simulator, control plane ...")
	case <-child.done:
		return fmt.Errorf("the manager exited unexpectedly (%v)\n--- last lines of %s ---\n%s", child.err, files.ManagerLogFile, tail(files.ManagerLogFile, 40))
	}
	stopStart := time.Now()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
	u.info("Stopped in %s; removed %s.", time.Since(stopStart).Round(100*time.Millisecond), dir)
	return nil
}

// envtestAssets is KUBEBUILDER_ASSETS when it holds the binaries, else what
// hack/envtest.sh prints (it builds them the first time, minutes; later
// starts find them cached).
func envtestAssets(ctx context.Context, root string) (string, error) {
	need := []string{"etcd", "kube-apiserver", "kube-controller-manager"}
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" && hasAll(dir, need) {
		return dir, nil
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "envtest.sh"))
	cmd.Dir = root
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr // build progress, shown on first use only
	killGroupOnCancel(cmd)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/envtest.sh (builds the control plane binaries): %w", err)
	}
	dir := strings.TrimSpace(out.String())
	if !hasAll(dir, need) {
		return "", fmt.Errorf("hack/envtest.sh printed %q, which lacks one of %s", dir, strings.Join(need, ", "))
	}
	return dir, nil
}

// killGroupOnCancel runs cmd in its own process group and ends the whole
// group when its context is cancelled, so an interrupted build leaves no
// compiler behind.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

func hasAll(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

func kubectlPath(assets string) string {
	if p := filepath.Join(assets, "kubectl"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	return "kubectl"
}

// managerBinary builds bin/manager unless a binary was given.
func managerBinary(ctx context.Context, root, given string) (string, error) {
	if given != "" {
		if !fileExists(given) {
			return "", fmt.Errorf("--manager-binary %s does not exist", given)
		}
		return given, nil
	}
	out := filepath.Join(root, "bin", "manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	killGroupOnCancel(cmd)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/manager: %w\n%s", err, stderr.String())
	}
	return out, nil
}

// installSamples creates the installations' namespace and applies the
// sample `default` blueprint (only the blueprint: the sample installation
// belongs to another environment and is created by installing instead).
func installSamples(ctx context.Context, c client.Client, root string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: devNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", devNamespace, err)
	}
	path := filepath.Join(root, "config", "samples", "tenancy_v1alpha1_tenantblueprint.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the sample blueprint: %w", err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	// The control plane is fresh, so creating is enough.
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the sample blueprint from %s: %w", path, err)
	}
	return nil
}

// startSimulator serves the simulator on ln with the demo tenant and its
// administrator; the app's public key verifies system user tokens.
func startSimulator(ln net.Listener, o options, files *devSecrets, callbackURL string) (*http.Server, error) {
	baseURL := "http://" + ln.Addr().String()
	sim, id, err := superofficesim.NewEnvironment(
		superofficesim.Options{ClientID: devClientID, ClientSecret: files.ClientSecret, AppPublicKey: &files.AppKey.PublicKey},
		superofficesim.IdentityOptions{
			User:         superofficesim.User{Tenant: o.tenant, AssociateID: 5, Email: "admin@example.com", UPN: "admin@example.com", IsAdministrator: true},
			ConsentPage:  !o.autoConsent,
			AppName:      "PartnerApp",
			RedirectURIs: []string{callbackURL + "/callback"},
		})
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("simulator: %w", err)
	}
	sim.SetBaseURL(baseURL)
	sim.AddTenant(superofficesim.Tenant{ContextID: o.tenant, Serial: "1000", CompanyName: "Example Company AS"})
	rest := sim.RegisterREST()
	rest.SetSystemTokens(id.SystemToken)
	rest.SetWebhookPing(o.webhookPing)
	// What the app created inside the tenant, for people and tests to look at.
	sim.Mux().HandleFunc("GET /_devenv/tenants/{ctx}/objects", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		objs := rest.Objects(r.PathValue("ctx"))
		if objs == nil {
			objs = []superofficesim.Object{}
		}
		_ = json.NewEncoder(w).Encode(objs)
	})
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "devenv: simulator: %v\n", err)
		}
	}()
	return srv, nil
}

// childProcess is the manager process.
type childProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startManager(bin string, args []string, kubeconfig string, out io.Writer) (*childProcess, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutEnv(os.Environ(), "KUBECONFIG"), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: Ctrl-C reaches devenv, which stops the manager
	// first and the control plane after it. Pdeathsig ends it should
	// devenv itself be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &childProcess{cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// stop asks the manager's process group to end, and kills it after grace.
func (c *childProcess) stop(grace time.Duration) {
	// Anything the manager left in its group goes too.
	procgroup.Stop(c.cmd.Process.Pid, c.done, grace)
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady polls each URL until it answers 200, failing early when the
// manager exits.
func waitReady(ctx context.Context, child *childProcess, urls []string) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-child.done:
				return fmt.Errorf("the manager exited before it was ready (%v)", child.err)
			case <-ctx.Done():
				return fmt.Errorf("the manager was not ready (%s did not answer 200) in time", u)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// listenLoopback listens on the preferred loopback port, or on any free one
// when that port is 0 or taken.
func listenLoopback(preferred int) (net.Listener, error) {
	if preferred != 0 {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", preferred)); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// pickPort finds a free loopback port for a child process to bind.
func pickPort(preferred int) (int, error) {
	ln, err := listenLoopback(preferred)
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func copyFile(from, to string) error {
	if from == to {
		return nil
	}
	raw, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return nil
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func relTo(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
