// Command devenv is what `make run` runs: the whole system on one machine.
//
// With no cluster configured (KUBECONFIG unset and no ~/.kube/config), or
// with --embedded, it starts a local control plane from the cached source
// builds (etcd, kube-apiserver, kube-controller-manager), installs the CRDs
// and the sample `default` blueprint, starts the SuperOffice simulator with a
// demo tenant, writes development keys and a config into a temporary
// directory and runs bin/manager with it. Ctrl-C stops everything and
// removes the directory.
//
// With a cluster configured, or with --cluster, it runs only the manager
// against that cluster, as kubebuilder's `make run` does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	embedded      bool
	cluster       bool
	callbackPort  int
	simulatorPort int
	tenant        string
	autoConsent   bool
	webhookPing   bool
	showLogs      bool
	managerBinary string
	readyTimeout  time.Duration
	configPath    string
	managerArgs   []string
}

// Mode is where devenv runs the manager.
type Mode int

const (
	// ModeEmbedded starts a local control plane and the simulator.
	ModeEmbedded Mode = iota
	// ModeCluster runs the manager against the configured cluster.
	ModeCluster
)

func (m Mode) String() string {
	if m == ModeCluster {
		return "cluster"
	}
	return "embedded"
}

// chooseMode decides between the embedded environment and a real cluster:
// explicit flags win; otherwise a configured KUBECONFIG or ~/.kube/config
// means a cluster, as kubebuilder's `make run` assumes.
func chooseMode(embedded, cluster bool, kubeconfigEnv, home string, exists func(string) bool) (Mode, string, error) {
	switch {
	case embedded && cluster:
		return 0, "", errors.New("--embedded and --cluster exclude each other")
	case embedded:
		return ModeEmbedded, "--embedded given", nil
	case cluster:
		return ModeCluster, "--cluster given", nil
	}
	for _, p := range filepath.SplitList(kubeconfigEnv) {
		if p != "" && exists(p) {
			return ModeCluster, "KUBECONFIG=" + kubeconfigEnv, nil
		}
	}
	if kubeconfigEnv != "" {
		return 0, "", fmt.Errorf("KUBECONFIG=%s names no existing file: unset it for the embedded environment, or fix it", kubeconfigEnv)
	}
	if home != "" {
		if p := filepath.Join(home, ".kube", "config"); exists(p) {
			return ModeCluster, p + " exists", nil
		}
	}
	return ModeEmbedded, "no cluster configured", nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func main() {
	var o options
	fs := flag.NewFlagSet("devenv", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: go run ./cmd/devenv [flags] [-- manager flags]

Runs tenant-operator locally. Without a configured cluster it starts an
embedded control plane, the SuperOffice simulator and the manager; with one
(KUBECONFIG or ~/.kube/config) it runs only the manager against it.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.embedded, "embedded", false, "Start the embedded control plane and simulator even when a cluster is configured.")
	fs.BoolVar(&o.cluster, "cluster", false, "Run only the manager against the cluster of KUBECONFIG (or ~/.kube/config).")
	fs.IntVar(&o.callbackPort, "callback-port", 8082, "Loopback port of the manager's callback server (install and status pages); 0 picks a free one.")
	fs.IntVar(&o.simulatorPort, "simulator-port", 8555, "Loopback port of the SuperOffice simulator; 0 picks a free one.")
	fs.StringVar(&o.tenant, "tenant", "Cust12345", "Demo tenant (context identifier) the simulated administrator belongs to.")
	fs.BoolVar(&o.autoConsent, "auto-consent", false, "Consent at the simulator automatically instead of showing its consent page.")
	fs.BoolVar(&o.webhookPing, "webhook-ping", true, "The simulator pings webhook targets on registration and refuses them unless they answer, as SuperOffice does.")
	fs.BoolVar(&o.showLogs, "logs", false, "Print the manager's log here too (it always goes to manager.log in the work directory).")
	fs.StringVar(&o.managerBinary, "manager-binary", "", "Use this manager binary instead of building bin/manager.")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 3*time.Minute, "How long to wait for everything to be ready.")
	fs.StringVar(&o.configPath, "config", "", "Cluster mode: the manager's --config file.")
	_ = fs.Parse(os.Args[1:])
	o.managerArgs = fs.Args()

	home, _ := os.UserHomeDir()
	mode, why, err := chooseMode(o.embedded, o.cluster, os.Getenv("KUBECONFIG"), home, fileExists)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ui := newUI(os.Stdout)
	switch mode {
	case ModeCluster:
		err = runCluster(ctx, ui, o, why)
	default:
		err = runEmbedded(ctx, ui, o, why)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

// ui prints friendly progress lines.
type ui struct {
	w     io.Writer
	start time.Time
}

func newUI(w io.Writer) *ui { return &ui{w: w, start: time.Now()} }

func (u *ui) step(what string, took time.Duration) {
	fmt.Fprintf(u.w, "  ✓ %-54s %6s\n", what, took.Round(100*time.Millisecond))
}

func (u *ui) info(format string, args ...any) {
	fmt.Fprintf(u.w, format+"\n", args...)
}

// repoRoot finds the module root from the working directory, so devenv
// works from any directory inside the clone.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(raw), "module github.com/tenant-operator/tenant-operator\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run devenv inside the tenant-operator clone (no go.mod of github.com/tenant-operator/tenant-operator found above the working directory)")
		}
		dir = parent
	}
}
