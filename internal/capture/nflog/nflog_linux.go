package nflog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gonflog "github.com/florianl/go-nflog/v2"
	nft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/packet"
)

const (
	// queueLen payloads wait between the library's reading goroutine and
	// Run. When it is full the reader stops reading, the socket buffer
	// fills, and the kernel drops (and numbers) what does not fit.
	queueLen = 1024
	// stopTimeout bounds how long stopping waits for the library's reader
	// to leave its loop (it takes microseconds; this is a safety net).
	stopTimeout = 5 * time.Second

	stateOpen    = 0
	stateRunning = 1
	stateClosed  = 2
)

// readBuffer is the socket's receive buffer (the kernel doubles it for its
// bookkeeping). A logged packet takes about 1 KiB of it, so 8 MiB absorb a
// burst of over ten thousand packets while Run is held up. It is set with
// SO_RCVBUFFORCE (the source needs CAP_NET_ADMIN anyway), else as far as
// net.core.rmem_max allows. A variable so that tests can overflow it.
var readBuffer = 8 << 20

// ErrGroupInUse: another socket (ulogd, another sesamed, a second nflog
// capture on the same group) is bound to the group; the kernel hands each
// group's packets to one listener only.
var ErrGroupInUse = errors.New("the group is bound by another program (ulogd? another sesamed?)")

// Source reads one nflog group. Open it with Open, then call Run once.
type Source struct {
	name  string
	nf    *gonflog.Nflog
	rules *installed // nil without Options.Install
	// cancel ends the context the library's goroutines watch.
	cancel context.CancelFunc

	queue    chan []byte   // payloads from the reader to Run
	stop     chan struct{} // closed when the source stops: the reader must leave
	stopOnce sync.Once
	left     chan struct{} // closed when the reader has left its loop
	leftOnce sync.Once
	readErr  error // why the reader left on its own; written before left is closed

	// Only the reader touches these: the sequence number the kernel gives
	// the next logged packet, and whether messages carry one.
	nextSeq  uint32
	numbered bool

	state                       atomic.Int32
	packets, drops, undecodable atomic.Uint64
}

var _ capture.Source = (*Source)(nil)

// Open binds to nflog group in the calling thread's network namespace and,
// with opts.Install, installs sesame's log rule for spec (see the package
// comment), so that a lack of privilege (CAP_NET_ADMIN), a group taken by
// another program (ErrGroupInUse) or a kernel without nf_tables is
// reported at start-up. A permission failure is errors.Is(err,
// os.ErrPermission).
func Open(group uint16, spec capture.FilterSpec, opts Options) (*Source, error) {
	return openWith(config(group), spec, opts)
}

// openWith is Open with the group's configuration given (tests change
// what does not matter to the source, such as the flush timeout).
func openWith(cfg *gonflog.Config, spec capture.FilterSpec, opts Options) (*Source, error) {
	group := cfg.Group
	s, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to bind nflog group %d: %w", group, err)
	}
	if opts.Install {
		var o []nft.ConnOption
		if opts.NetNSFd != 0 {
			o = append(o, nft.WithNetNSFd(opts.NetNSFd))
		}
		if s.rules, err = install(buildRuleset(group, spec), o...); err != nil {
			s.state.Store(stateClosed)
			_ = s.release()
			return nil, fmt.Errorf("failed to install the nflog rule: %w", err)
		}
	}
	return s, nil
}

// config is how the source asks the kernel to log group: whole packets
// from the IP header, at most CopyRange bytes; numbered, so that gaps
// count as drops; and each sent as soon as it is logged (a queue threshold
// of one), where the kernel would otherwise hold packets until a batch of
// 100 or its flush timeout (a second) is reached.
func config(group uint16) *gonflog.Config {
	return &gonflog.Config{
		Group:    group,
		Copymode: gonflog.CopyPacket,
		Bufsize:  CopyRange, // the copy range, whatever the rule says
		QThresh:  1,         // send each packet at once, not in batches
		Flags:    gonflog.FlagSeq,
		Logger:   quiet{},
	}
}

func open(cfg *gonflog.Config) (*Source, error) {
	group := cfg.Group
	nf, err := gonflog.Open(cfg)
	if err != nil {
		return nil, err
	}
	// The library's errors format the errno with %v; ask the kernel
	// ourselves first, so that the answer keeps its errno.
	if err := probe(nf.Con, group); err != nil {
		_ = nf.Close()
		return nil, err
	}
	setReadBuffer(nf.Con)
	s := &Source{
		name:  fmt.Sprintf("nflog:%d", group),
		nf:    nf,
		queue: make(chan []byte, queueLen),
		stop:  make(chan struct{}),
		left:  make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// This binds the group, sets the copy mode, queue threshold and flags,
	// and starts the library's reading goroutine (the reader).
	if err := nf.RegisterWithErrorFunc(ctx, s.hook, s.onError); err != nil {
		cancel()
		_ = nf.Close()
		return nil, err
	}
	return s, nil
}

// The nfnetlink_log protocol, as far as probe needs it.
const (
	nfulnlMsgConfig      = 1 // NFULNL_MSG_CONFIG
	nfulaCfgCmd          = 1 // NFULA_CFG_CMD
	nfulnlCfgCmdPfUnbind = 4 // NFULNL_CFG_CMD_PF_UNBIND
)

// probe asks the kernel two questions whose answers the library would
// lose. Every nfnetlink request needs CAP_NET_ADMIN: the first request,
// the address family unbind that the library itself sends first, fails
// with EPERM without it. A configuration request for the group without a
// command then fails with ENODEV if no one has bound the group, and with
// EPERM if another socket has.
func probe(c *netlink.Conn, group uint16) error {
	ad := netlink.NewAttributeEncoder()
	ad.Bytes(nfulaCfgCmd, []byte{nfulnlCfgCmdPfUnbind})
	cmd, err := ad.Encode()
	if err != nil {
		return err
	}
	if _, err := c.Execute(configMsg(0, cmd)); err != nil {
		return err
	}
	_, err = c.Execute(configMsg(group, nil))
	switch {
	case errors.Is(err, unix.ENODEV):
		return nil
	case errors.Is(err, unix.EPERM):
		return ErrGroupInUse
	}
	return err
}

// configMsg is an NFULNL_MSG_CONFIG request for group with attrs, after
// the nfgenmsg header (family AF_UNSPEC, version 0, group).
func configMsg(group uint16, attrs []byte) netlink.Message {
	data := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}
	binary.BigEndian.PutUint16(data[2:], group)
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8 | nfulnlMsgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(data, attrs...),
	}
}

func setReadBuffer(c *netlink.Conn) {
	if rc, err := c.SyscallConn(); err == nil {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, readBuffer)
		}); err == nil && serr == nil {
			return
		}
	}
	_ = c.SetReadBuffer(readBuffer)
}

// hook is the library's callback, called on the reader for each logged
// packet. The payload is a fresh copy the library made, so it can be
// handed to Run as it is.
func (s *Source) hook(a gonflog.Attribute) int {
	if a.Seq != nil {
		s.count(*a.Seq)
	}
	var p []byte
	if a.Payload != nil {
		p = *a.Payload
	}
	select {
	case <-s.stop:
		s.leave(nil)
		return 1
	default:
	}
	select {
	case s.queue <- p:
		return 0
	case <-s.stop:
		s.leave(nil)
		return 1
	}
}

// count folds a gap in the kernel's numbering into the drops: a packet
// the kernel logged but could not send (the socket buffer was full) takes
// its number with it.
func (s *Source) count(seq uint32) {
	s.numbered = true
	if gap := seq - s.nextSeq; gap != 0 && gap < 1<<31 {
		s.drops.Add(uint64(gap))
	}
	s.nextSeq = seq + 1
}

// onError is the library's error callback, called on the reader when a
// read fails. ENOBUFS (the socket buffer overflowed) is not fatal: the
// numbering counts the lost packets. Anything else, unless the source is
// stopping, is a failure of the socket that Run reports.
func (s *Source) onError(err error) int {
	select {
	case <-s.stop:
		s.leave(nil)
		return 1
	default:
	}
	switch {
	case errors.Is(err, unix.ENOBUFS):
		if !s.numbered {
			s.drops.Add(1)
		}
		return 0
	case errors.Is(err, unix.EINTR):
		return 0
	}
	s.leave(err)
	return 1
}

// leave records that the reader is leaving its loop, and why.
func (s *Source) leave(err error) {
	s.leftOnce.Do(func() {
		s.readErr = err
		close(s.left)
	})
}

// Name is "nflog:GROUP".
func (s *Source) Name() string { return s.name }

// Stats returns how many logged packets Run read and how many of them did
// not decode into a hit, and how many the kernel logged but could not
// hand over (from gaps in its numbering; a drop is counted when the next
// packet arrives). Safe to call from any goroutine.
func (s *Source) Stats() capture.Stats {
	return capture.Stats{Packets: s.packets.Load(), Drops: s.drops.Load(), Undecodable: s.undecodable.Load()}
}

// Close releases a source that will not be Run: the socket, and with
// Options.Install the table. After Run has started it does nothing.
func (s *Source) Close() error {
	if s.state.CompareAndSwap(stateOpen, stateClosed) {
		return s.release()
	}
	return nil
}

// Run decodes logged packets and hands each hit to sink, on this
// goroutine, until ctx is cancelled (it returns nil) or the socket fails
// (it returns the error, after delivering what was read before). Either
// way it releases the socket and removes the installed table before it
// returns, and returns an error if that removal fails. Run may be called
// once.
func (s *Source) Run(ctx context.Context, sink capture.Sink) error {
	if !s.state.CompareAndSwap(stateOpen, stateRunning) {
		return fmt.Errorf("capture on %s: Run called twice or after Close", s.name)
	}
	var h packet.Hit
	err := s.loop(ctx, sink, &h)
	if rerr := s.release(); err == nil {
		err = rerr
	}
	s.state.Store(stateClosed)
	return err
}

func (s *Source) loop(ctx context.Context, sink capture.Sink, h *packet.Hit) error {
	done := ctx.Done()
	for {
		select {
		case <-done:
			return nil
		case p := <-s.queue:
			s.deliver(p, h, sink)
		case <-s.left:
			for {
				select {
				case p := <-s.queue:
					s.deliver(p, h, sink)
				default:
					return fmt.Errorf("capture on %s: %w", s.name, s.readErr)
				}
			}
		}
	}
}

// deliver decodes one logged packet, which starts at the IP header, into
// h and hands it to sink.
func (s *Source) deliver(p []byte, h *packet.Hit, sink capture.Sink) {
	s.packets.Add(1)
	if err := capture.Decode(packet.LinkRaw, p, h); err != nil {
		s.undecodable.Add(1)
		return
	}
	sink.Hit(h)
}

// release stops the reader, closes the socket (which unbinds the group)
// and removes the installed table. The reader is made to leave its loop
// before the socket closes: stop makes the callbacks refuse further
// packets, and a read deadline in the past makes its current and every
// later read fail at once, so it calls onError if it is not in hook.
// (After leaving, the library's goroutine sends one last unbind request,
// which fails on the expired deadline or the closed socket and touches
// nothing of the Source.)
func (s *Source) release() error {
	s.stopOnce.Do(func() { close(s.stop) })
	_ = s.nf.Con.SetReadDeadline(time.Unix(1, 0))
	t := time.NewTimer(stopTimeout)
	select {
	case <-s.left:
	case <-t.C:
	}
	t.Stop()
	s.cancel()
	_ = s.nf.Close()
	if s.rules != nil {
		err := s.rules.remove()
		s.rules = nil
		return err
	}
	return nil
}

// quiet discards the library's log: its messages are about its own
// lifecycle (an unbind that fails on a socket being closed), and errors
// that matter reach onError.
type quiet struct{}

func (quiet) Debugf(string, ...any) {}
func (quiet) Errorf(string, ...any) {}
