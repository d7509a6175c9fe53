//go:build unix

package door

import "syscall"

// detached puts a command in its own session, and so its own process
// group, as knockd's setsid() does: a signal sent to the daemon's process
// group (a terminal's Ctrl-C, kill -TERM -PGID) does not reach it, so it
// completes. (A service manager that kills the whole cgroup still does;
// that is why Close waits for running commands.)
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
