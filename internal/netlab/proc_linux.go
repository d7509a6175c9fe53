//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ErrTimeout is returned by waits that ran out of time.
var ErrTimeout = errors.New("timed out")

// Proc is a long-running program started in a namespace, typically a daemon.
// Its stdout and stderr go to a log file that WaitLog reads.
type Proc struct {
	Name    string // program name, for messages
	LogPath string

	pid  int
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// Start starts name with args in the namespace, its output in logfile (""
// picks a file in t.TempDir()). t.Cleanup kills it and its process group; if
// the test failed, the end of its log is printed.
func (ns *Netns) Start(t testing.TB, logfile, name string, args ...string) *Proc {
	t.Helper()
	if logfile == "" {
		logfile = filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	}
	f, err := os.OpenFile(logfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	defer f.Close()
	cmd := ns.Command(context.Background(), name, args...)
	cmd.Stdout, cmd.Stderr = f, f // an *os.File: no copying goroutine to wait for
	if err := cmd.Start(); err != nil {
		t.Fatalf("netlab: failed to start %s in %s: %v", name, ns.Name, err)
	}
	p := &Proc{Name: filepath.Base(name), LogPath: logfile, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ns.track(p)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("netlab: last lines of %s's log (%s):\n%s", p.Name, p.LogPath, tail(p.Log(), 40))
		}
	})
	return p
}

// Pid is the program's process id (ip netns exec execs it in place).
func (p *Proc) Pid() int { return p.pid }

// Signal sends sig to the program alone (not its process group).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return syscall.Kill(p.pid, sig)
}

// Exited reports whether the program has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the program to exit and returns its exit
// error (nil for status 0), or ErrTimeout.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still running after %v: %w", p.Name, p.pid, timeout, ErrTimeout)
	}
}

// Kill ends the program and everything left in its process group: SIGTERM,
// then SIGKILL after 3 s. It is safe to call more than once.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
		}
	}
	// Children that outlive the leader (knockd's sleeping stop-command
	// forks) are still in the group; the group id is ours until they exit.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
}

// Log returns everything the program has written so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Lines returns the log lines that contain substr.
func (p *Proc) Lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(p.Log(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// WaitLog waits up to timeout for a log line containing substr and returns
// it. It gives up early if the program exits without writing one.
func (p *Proc) WaitLog(substr string, timeout time.Duration) (string, error) {
	var line string
	err := p.WaitLogFunc(func(log string) bool {
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, substr) {
				line = l
				return true
			}
		}
		return false
	}, timeout)
	if err != nil {
		return "", fmt.Errorf("no %q in the log of %s: %w", substr, p.Name, err)
	}
	return line, nil
}

// WaitLogFunc polls the log every 10 ms until ok accepts it, for at most
// timeout, or until the program has exited and ok still refuses it.
func (p *Proc) WaitLogFunc(ok func(log string) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		exited := p.Exited()
		if ok(p.Log()) {
			return nil
		}
		if exited {
			return fmt.Errorf("%s exited (%v)", p.Name, p.err)
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
