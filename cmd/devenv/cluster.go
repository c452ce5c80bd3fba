package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// runCluster runs only the manager against the configured cluster, with
// its output here, as kubebuilder's `make run` does. The CRDs must already
// be installed (`make install`).
func runCluster(ctx context.Context, u *ui, o options, why string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	u.info("Running the manager against the configured cluster (%s).", why)
	u.info("  (the CRDs must be installed: make install; for the embedded environment: go run ./cmd/devenv --embedded)")
	t := time.Now()
	bin, err := managerBinary(ctx, root, o.managerBinary)
	if err != nil {
		return err
	}
	u.step("manager binary "+relTo(root, bin), time.Since(t))
	args := []string{"--leader-elect=false"}
	if o.configPath != "" {
		args = append(args, "--config="+o.configPath)
	}
	args = append(args, o.managerArgs...)
	u.info("  $ %s %s", relTo(root, bin), strings.Join(args, " "))

	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	child := &childProcess{cmd: cmd, done: make(chan struct{})}
	go func() { child.err = cmd.Wait(); close(child.done) }()
	select {
	case <-ctx.Done():
		child.stop(15 * time.Second)
		return nil
	case <-child.done:
		var exit *exec.ExitError
		if errors.As(child.err, &exit) {
			return fmt.Errorf("the manager exited with status %d", exit.ExitCode())
		}
		return child.err
	}
}
