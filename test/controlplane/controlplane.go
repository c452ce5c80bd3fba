// Package controlplane starts the test control plane: envtest's etcd and
// kube-apiserver, plus kube-controller-manager running the namespace and
// garbage-collector controllers. Without those two, a deleted namespace
// stays Terminating forever and "the namespace is gone" could only be
// assumed; with them it is observed.
package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tenant-operator/tenant-operator/test/procgroup"
)

// ControlPlane is a running test control plane.
type ControlPlane struct {
	Env *envtest.Environment
	// Config is a cluster-admin rest.Config for the API server.
	Config *rest.Config
	// KubeconfigPath is a system:masters kubeconfig on disk, for kubectl
	// and child processes.
	KubeconfigPath string

	dir     string
	kcm     *exec.Cmd
	kcmDone chan struct{}
	kcmLog  *lockedBuffer
}

// Options select what to start.
type Options struct {
	// CRDDirectoryPaths are installed before Start returns.
	CRDDirectoryPaths []string
	// ControllerManager starts kube-controller-manager (namespace and
	// garbage-collector controllers).
	ControllerManager bool
}

// RepoRoot finds the repository root from this source file's location, so
// tests in any package find config/crd/bases.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CRDPath is the directory of the generated CRDs.
func CRDPath() string { return filepath.Join(RepoRoot(), "config", "crd", "bases") }

// AssetsDir returns KUBEBUILDER_ASSETS or an error that says how to get it.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export KUBEBUILDER_ASSETS=$(make -s envtest)")
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s lacks %s: run `make envtest`", dir, b)
		}
	}
	return dir, nil
}

// Start starts etcd and kube-apiserver, and kube-controller-manager when asked.
func Start(o Options) (*ControlPlane, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     o.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: len(o.CRDDirectoryPaths) > 0,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	cp := &ControlPlane{Env: env, Config: cfg}
	cp.dir, err = os.MkdirTemp("", "tenant-operator-controlplane-")
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	admin, err := env.AddUser(envtest.User{Name: "test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("add admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	cp.KubeconfigPath = filepath.Join(cp.dir, "kubeconfig")
	if err := os.WriteFile(cp.KubeconfigPath, kubeconfig, 0o600); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	if o.ControllerManager {
		if err := cp.startControllerManager(assets); err != nil {
			_ = cp.Stop()
			return nil, err
		}
	}
	return cp, nil
}

func (cp *ControlPlane) startControllerManager(assets string) error {
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("KUBEBUILDER_ASSETS=%s lacks kube-controller-manager: run `make envtest`", assets)
	}
	cp.kcmLog = &lockedBuffer{}
	cmd := exec.Command(bin,
		"--kubeconfig="+cp.KubeconfigPath,
		"--controllers=namespace,garbagecollector",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--concurrent-namespace-syncs=5",
	)
	cmd.Stdout, cmd.Stderr = cp.kcmLog, cp.kcmLog
	// Its own process group, so Stop can end it and anything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	cp.kcm = cmd
	cp.kcmDone = make(chan struct{})
	go func() { _ = cmd.Wait(); close(cp.kcmDone) }()
	return nil
}

// ControllerManagerLog is what kube-controller-manager printed, for failures.
func (cp *ControlPlane) ControllerManagerLog() string {
	if cp.kcmLog == nil {
		return ""
	}
	return cp.kcmLog.String()
}

// Stop ends everything Start started and removes its files.
func (cp *ControlPlane) Stop() error {
	var errs []error
	if cp.kcm != nil && cp.kcm.Process != nil {
		procgroup.Stop(cp.kcm.Process.Pid, cp.kcmDone, 10*time.Second)
	}
	if cp.Env != nil {
		if err := cp.Env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop envtest: %w", err))
		}
	}
	if cp.dir != "" {
		errs = append(errs, os.RemoveAll(cp.dir))
	}
	return errors.Join(errs...)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
