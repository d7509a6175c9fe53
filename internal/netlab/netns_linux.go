//go:build linux

package netlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a named network namespace of a lab (/run/netns/NAME).
type Netns struct {
	Name    string
	created bool

	mu    sync.Mutex
	procs []*Proc
}

func newNetns(name string) *Netns { return &Netns{Name: name} }

// Path is the namespace's bind mount, for setns(2).
func (ns *Netns) Path() string { return "/run/netns/" + ns.Name }

// Do runs fn on a fresh OS thread that has joined the namespace, and waits
// for it. Sockets fn creates belong to the namespace for their whole life,
// whatever thread uses them later. The thread is never handed back to the Go
// scheduler (it stays locked and exits with its goroutine), so no other
// goroutine ever runs in the namespace by accident.
func (ns *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread dies with this goroutine
		fd, err := unix.Open(ns.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("failed to open namespace %s: %w", ns.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("failed to enter namespace %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dial connects from inside the namespace (see net.DialTimeout).
func (ns *Netns) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	return ns.DialFrom(nil, network, addr, timeout)
}

// DialFrom connects from inside the namespace from the local address laddr
// (nil: any), e.g. &net.TCPAddr{IP: ...} to pick one of a client's addresses.
func (ns *Netns) DialFrom(laddr net.Addr, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		d := net.Dialer{Timeout: timeout, LocalAddr: laddr}
		c, err = d.Dial(network, addr)
		return err
	})
	return c, err
}

// Listen opens a listener inside the namespace (see net.Listen).
func (ns *Netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a packet socket inside the namespace (see net.ListenPacket).
func (ns *Netns) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// Command is exec.Command for a program that runs inside the namespace
// ("ip netns exec NS name args...").
func (ns *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	// Its own process group, so the whole group (with any children it
	// leaves behind) can be killed, and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run runs a program inside the namespace to completion and returns its
// combined output; a non-zero exit is an error that carries the output.
func (ns *Netns) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return ns.RunInput(ctx, "", name, args...)
}

// RunInput is Run with stdin.
func (ns *Netns) RunInput(ctx context.Context, stdin, name string, args ...string) ([]byte, error) {
	cmd := ns.Command(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s in %s: %w: %s", strings.Join(cmd.Args[4:], " "), ns.Name, err, bytes.TrimSpace(out.Bytes()))
	}
	return out.Bytes(), nil
}

// batch runs ip commands in the namespace, one process for all of them.
func (ns *Netns) batch(ctx context.Context, cmds []string) error {
	cmd := exec.CommandContext(ctx, "ip", "-n", ns.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %v: %s", ns.Name, err, out)
	}
	return nil
}

func (ns *Netns) track(p *Proc) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.procs = append(ns.procs, p)
}

func (ns *Netns) killAll() {
	ns.mu.Lock()
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

func (ns *Netns) delete() {
	if !ns.created {
		return
	}
	for try := 0; try < 10; try++ { // bounded: a dying process may hold it for a moment
		out, err := exec.Command("ip", "netns", "delete", ns.Name).CombinedOutput()
		if err == nil || !exists(ns.Path()) {
			ns.created = false
			return
		}
		if try == 9 {
			fmt.Fprintf(os.Stderr, "netlab: failed to delete namespace %s: %v: %s\n", ns.Name, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
