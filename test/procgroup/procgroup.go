// Package procgroup stops child processes that run in their own process
// group (control-plane binaries, manager processes), so nothing they started
// outlives a test or `make run`.
package procgroup

import (
	"syscall"
	"time"
)

// Stop asks the process group led by pid to end with SIGTERM, waits for done
// (closed when the leader has been reaped) up to grace, then kills the group.
// Whatever else is left in the group is killed either way.
func Stop(pid int, done <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
