package e2e

// Helpers shared by the process-level end-to-end specs (devenv, browser,
// environments, failover): building binaries, starting `make run`'s devenv,
// following its child processes, and Kubernetes clients from a kubeconfig.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
)

// outputDir holds built binaries and screenshots; /test/output/ is ignored by git.
func outputDir(parts ...string) string {
	return filepath.Join(append([]string{controlplane.RepoRoot(), "test", "output"}, parts...)...)
}

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
)

// buildBinary builds a command of this module once per test process into
// test/output/bin, so the specs never race a developer's bin/manager.
func buildBinary(name, pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtPaths[name]; ok {
		return p, nil
	}
	// A prebuilt manager (e.g. from CI's build step) saves a build.
	if p := os.Getenv("E2E_MANAGER_BINARY"); name == "manager" && p != "" {
		builtPaths[name] = p
		return p, nil
	}
	out := outputDir("bin", name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = controlplane.RepoRoot()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, buf.String())
	}
	builtPaths[name] = out
	return out, nil
}

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(tenancyv1alpha1.AddToScheme(s))
	return s
}

// kubeClientFor is a client for the cluster of a kubeconfig file.
func kubeClientFor(kubeconfig string) (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return client.New(cfg, client.Options{Scheme: testScheme()})
}

// devenvProcess is a running `make run` (cmd/devenv) started by a spec.
type devenvProcess struct {
	cmd    *exec.Cmd
	tmpDir string // TMPDIR given to devenv: everything it creates goes here
	done   chan struct{}
	err    error

	mu     sync.Mutex
	output bytes.Buffer
	fields map[string]string
	ready  chan struct{}
}

var bannerLine = regexp.MustCompile(`^\s{2}(Install the app|Status page|SuperOffice sim|Kubeconfig|Manager log|Work directory)\s{2,}(\S+)`)

// startDevenv builds cmd/devenv and starts it in its own process group with
// a private TMPDIR, on free ports, and waits until it prints its banner.
func startDevenv(ctx context.Context, args ...string) (*devenvProcess, error) {
	assets, err := controlplane.AssetsDir()
	if err != nil {
		return nil, err
	}
	bin, err := buildBinary("devenv", "./cmd/devenv")
	if err != nil {
		return nil, err
	}
	manager, err := buildBinary("manager", "./cmd/manager")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "e2e-devenv-tmp-")
	if err != nil {
		return nil, err
	}
	args = append([]string{"--embedded", "--callback-port=0", "--simulator-port=0", "--manager-binary=" + manager}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = controlplane.RepoRoot()
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "TMPDIR=") && !strings.HasPrefix(kv, "KUBEBUILDER_ASSETS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "TMPDIR="+tmp, "KUBEBUILDER_ASSETS="+assets)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &devenvProcess{cmd: cmd, tmpDir: tmp, done: make(chan struct{}), fields: map[string]string{}, ready: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.output}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start devenv: %w", err)
	}
	go p.readStdout(stdout)
	go func() { p.err = cmd.Wait(); close(p.done) }()

	select {
	case <-p.ready:
		return p, nil
	case <-p.done:
		return p, fmt.Errorf("devenv exited before it was ready (%v):\n%s", p.err, p.Output())
	case <-ctx.Done():
		return p, fmt.Errorf("devenv was not ready in time:\n%s", p.Output())
	}
}

func (p *devenvProcess) readStdout(r io.Reader) {
	sc := bufio.NewScanner(r)
	readyClosed := false
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.output.WriteString(line + "\n")
		if m := bannerLine.FindStringSubmatch(line); m != nil {
			p.fields[m[1]] = m[2]
		}
		// The work directory line comes last among the fields read here.
		if !readyClosed && p.fields["Work directory"] != "" {
			readyClosed = true
			close(p.ready)
		}
		p.mu.Unlock()
	}
}

// Field is a value printed in the banner, e.g. "Install the app".
func (p *devenvProcess) Field(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fields[name]
}

// Output is everything devenv printed so far.
func (p *devenvProcess) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// BaseURL is the callback server's address, from the install URL.
func (p *devenvProcess) BaseURL() string {
	return strings.TrimSuffix(p.Field("Install the app"), "/install")
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for devenv to exit.
func (p *devenvProcess) interrupt(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("devenv did not stop within %s after SIGINT", timeout)
	}
}

// kill ends whatever is left (after a failed spec) and removes the TMPDIR.
func (p *devenvProcess) kill() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
	default:
		_ = p.interrupt(60 * time.Second)
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = os.RemoveAll(p.tmpDir)
}

// descendants lists every live process below pid, read from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(child); ok {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat reads a process's parent and state from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// The command name is in parentheses and may hold spaces.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}

func procName(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(raw))
}

// processGroupEmpty reports whether no process is left in group pgid.
func processGroupEmpty(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return errors.Is(err, syscall.ESRCH)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freePort is a loopback port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// httpGet fetches a URL with a short timeout and returns status and body.
func httpGet(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
