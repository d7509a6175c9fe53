//go:build linux

package udpsock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/packet"
)

const (
	// readBudget is how many datagrams Run reads from one ready socket
	// before turning to the others (epoll is level-triggered, so the rest
	// are read on the next round): a flood on one port does not starve
	// knocks on the next.
	readBudget = 64
	maxEvents  = 64
	wakeIndex  = -1 // the epoll data of the eventfd; sockets use their index

	stateOpen    = 0
	stateRunning = 1
	stateClosed  = 2
)

var _ capture.Source = (*Listener)(nil)

// Listener is a set of UDP sockets bound on the sequence ports. Open it,
// then call Run once; Run owns the sockets and closes them when it returns.
type Listener struct {
	socks  []sock
	epfd   int
	wakefd int

	state                 atomic.Int32
	packets, drops, undec atomic.Uint64
}

// sock is one bound socket.
type sock struct {
	fd    int
	port  uint16
	v6    bool
	drops uint32 // the kernel's drop counter for the socket, as last reported
}

// Open binds a UDP socket on every port: on IPv4 0.0.0.0 and, unless
// opts.IPv4Only, on IPv6 [::] with IPV6_V6ONLY so that the two do not
// clash. Duplicate ports are bound once. A port that is already in use, or
// that needs privilege (below net.ipv4.ip_unprivileged_port_start without
// CAP_NET_BIND_SERVICE: EACCES, errors.Is os.ErrPermission), fails Open
// with an error naming it, and Open then closes what it had bound. The
// sockets receive from the moment Open returns; datagrams that arrive
// before Run are queued (up to the socket buffer) and delivered by Run.
func Open(ports []uint16, opts Options) (*Listener, error) {
	if len(ports) == 0 {
		return nil, errors.New("failed to listen on udp: no ports")
	}
	ports = slices.Clone(ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if ports[0] == 0 {
		return nil, errors.New("failed to listen on udp port 0: not a port")
	}
	l := &Listener{epfd: -1, wakefd: -1}
	if err := l.open(ports, opts); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

func (l *Listener) open(ports []uint16, opts Options) error {
	v6 := !opts.IPv4Only
	for _, port := range ports {
		fd, err := listen(port, false)
		if err != nil {
			return fmt.Errorf("failed to listen on udp port %d: %w", port, err)
		}
		l.socks = append(l.socks, sock{fd: fd, port: port})
		if !v6 {
			continue
		}
		fd, err = listen(port, true)
		if errors.Is(err, unix.EAFNOSUPPORT) {
			v6 = false // no IPv6 in this kernel: nothing can knock over it
			continue
		}
		if err != nil {
			return fmt.Errorf("failed to listen on udp port %d (IPv6): %w", port, err)
		}
		l.socks = append(l.socks, sock{fd: fd, port: port, v6: true})
	}

	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("failed to listen on udp: %w", os.NewSyscallError("epoll_create1", err))
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("failed to listen on udp: %w", os.NewSyscallError("eventfd", err))
	}
	if err := l.watch(l.wakefd, wakeIndex); err != nil {
		return fmt.Errorf("failed to listen on udp: %w", err)
	}
	for i := range l.socks {
		if err := l.watch(l.socks[i].fd, i); err != nil {
			return fmt.Errorf("failed to listen on udp port %d: %w", l.socks[i].port, err)
		}
	}
	return nil
}

// listen opens and binds one non-blocking socket.
func listen(port uint16, v6 bool) (fd int, err error) {
	family, level, pktinfo := unix.AF_INET, unix.IPPROTO_IP, unix.IP_PKTINFO
	if v6 {
		family, level, pktinfo = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	}
	fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return -1, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if err := unix.SetsockoptInt(fd, level, pktinfo, 1); err != nil {
		return -1, os.NewSyscallError("setsockopt pktinfo", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return -1, os.NewSyscallError("setsockopt SO_RXQ_OVFL", err)
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(port)}
	if v6 {
		sa = &unix.SockaddrInet6{Port: int(port)}
	}
	// The bare errno, so that the message reads "failed to listen on udp
	// port 7000: address already in use".
	if err := unix.Bind(fd, sa); err != nil {
		return -1, err
	}
	return fd, nil
}

// watch adds fd to the epoll set with index as its data.
func (l *Listener) watch(fd, index int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(index)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
}

// release closes every descriptor the listener holds.
func (l *Listener) release() {
	for _, s := range l.socks {
		unix.Close(s.fd)
	}
	l.socks = nil
	for _, fd := range []*int{&l.epfd, &l.wakefd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// Name is "udp".
func (l *Listener) Name() string { return "udp" }

// Stats returns how many datagrams Run read, how many the kernel dropped on
// a full socket receive queue (learnt from the socket's next datagram, so a
// socket that drops and then goes quiet reports its drops late), and how
// many could not be turned into a hit (no destination address came with
// them, which the kernel does not do). Safe to call from any goroutine.
func (l *Listener) Stats() capture.Stats {
	return capture.Stats{Packets: l.packets.Load(), Drops: l.drops.Load(), Undecodable: l.undec.Load()}
}

// Close releases a listener that will not be Run. After Run has started,
// Run closes the sockets itself when it returns, and Close does nothing.
func (l *Listener) Close() error {
	if l.state.CompareAndSwap(stateOpen, stateClosed) {
		l.release()
	}
	return nil
}

// Run reads datagrams until ctx is cancelled and hands each hit to sink on
// this goroutine. It returns nil when ctx is cancelled and an error if a
// socket fails; either way it closes the sockets after its read loop has
// exited, so nothing reaches the sink after Run returns. Run may be called
// once.
func (l *Listener) Run(ctx context.Context, sink capture.Sink) error {
	if !l.state.CompareAndSwap(stateOpen, stateRunning) {
		return errors.New("udp capture: Run called twice or after Close")
	}
	// The wake-up must not write to the eventfd once it is closed (its
	// number may belong to another file by then): if stop finds it already
	// started, wait for it to finish before closing.
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		var one = [8]byte{1}
		unix.Write(l.wakefd, one[:])
	})
	defer func() {
		if !stop() {
			<-woken
		}
		l.release()
		l.state.Store(stateClosed)
	}()

	rx := newReceiver()
	var h packet.Hit
	var events [maxEvents]unix.EpollEvent
	done := ctx.Done()
	for {
		select {
		case <-done:
			return nil
		default:
		}
		n, err := unix.EpollWait(l.epfd, events[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("udp capture: %w", os.NewSyscallError("epoll_wait", err))
		}
		for _, ev := range events[:n] {
			if ev.Fd == wakeIndex {
				continue // the loop head sees ctx is done
			}
			if err := l.drain(&l.socks[ev.Fd], rx, &h, sink); err != nil {
				return err
			}
		}
	}
}

// drain reads up to readBudget datagrams from one ready socket and
// delivers them. It is the per-datagram path of Run, separate so that
// tests can measure it.
func (l *Listener) drain(s *sock, rx *receiver, h *packet.Hit, sink capture.Sink) error {
	for range readBudget {
		n, errno := rx.recv(s.fd)
		switch errno {
		case 0:
		case unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue
		default:
			family := ""
			if s.v6 {
				family = " (IPv6)"
			}
			return fmt.Errorf("udp capture on port %d%s: %w", s.port, family, os.NewSyscallError("recvmsg", errno))
		}
		l.packets.Add(1)
		ok := rx.decode(n, s.port, h)
		if rx.hasDrops && rx.dropCount != s.drops {
			l.drops.Add(uint64(rx.dropCount - s.drops)) // wraps like the kernel's u32
			s.drops = rx.dropCount
		}
		if !ok {
			l.undec.Add(1)
			continue
		}
		sink.Hit(h)
	}
	return nil
}
