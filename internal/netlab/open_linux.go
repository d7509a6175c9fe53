//go:build linux

package netlab

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TimeToOpen starts a connection attempt from src every 100 µs (each its
// own SYN, so each is judged by the firewall as it arrives) and returns
// how long after the call the first attempt that got through was started.
// It gives up after limit: at most limit/100µs attempts, each waited for
// at most 300 ms.
func (h *Host) TimeToOpen(src netip.Addr, to netip.AddrPort, limit time.Duration) (time.Duration, error) {
	const every = 100 * time.Microsecond
	start := time.Now()
	won := make(chan time.Duration, 1)
	stop := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	err := h.Do(func() error { // sockets are created on this thread, in the namespace
		tick := time.NewTicker(every)
		defer tick.Stop()
		deadline := time.After(limit)
		for {
			select {
			case <-stop:
				return nil
			case <-deadline:
				return nil
			case <-tick.C:
			}
			at := time.Since(start)
			fd, err := connectNonBlocking(src, to)
			if err != nil {
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if connected(fd, 300*time.Millisecond) {
					once.Do(func() { won <- at; close(stop) })
				}
			}()
		}
	})
	wg.Wait()
	if err != nil {
		return 0, err
	}
	select {
	case d := <-won:
		return d, nil
	default:
		return 0, fmt.Errorf("no connection from %s within %v", src, limit)
	}
}

// connectNonBlocking sends one SYN from src to to and returns the socket.
func connectNonBlocking(src netip.Addr, to netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()})
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// connected waits for the handshake to finish and closes the socket.
func connected(fd int, timeout time.Duration) bool {
	defer unix.Close(fd)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		return err == nil && soErr == 0
	}
}
