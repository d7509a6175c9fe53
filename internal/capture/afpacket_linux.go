package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Ring geometry. With TPACKET_V3 packets are packed into blocks of
// variable-length slots; the frame size only has to divide the block and
// hold one SnapLen packet with its headers (tpacket3_hdr, sockaddr_ll,
// alignment: about 100 bytes). A block is handed to user space when full or
// when blockTimeout expires, whichever comes first; sparse traffic thus
// uses about one block per millisecond, so what bounds the stall the ring
// absorbs is the NUMBER of blocks, not their size: with 32 blocks a reader
// held up for 32 ms (a loaded machine, a burst of start commands forking)
// lost knocks in the namespace lab. 1024 small blocks (8 MiB) absorb a
// second of stall at low rates and some 17,000 packets of a burst.
const (
	frameSize    = 1024
	blockSize    = 8 << 10
	numBlocks    = 1024
	blockTimeout = time.Millisecond       // the kernel's minimum; SPEC §5 latency
	pollTimeout  = 100 * time.Millisecond // how soon Run notices cancellation
	statsEvery   = 1024                   // refresh kernel counters every so many packets
	drainLimit   = time.Second            // see AFPacket.draining
	stateOpen    = 0
	stateRunning = 1
	stateClosed  = 2
)

// AFPacket captures from one interface through an AF_PACKET TPACKET_V3 ring
// with a generated BPF filter. Open it with OpenAFPacket, then call Run
// once; Run owns the socket and closes it when it returns.
type AFPacket struct {
	ifname string
	link   packet.LinkType
	tp     *afpacket.TPacket

	// The socket is bound before the filter is attached, so the ring may
	// hold a few unfiltered packets (outgoing ones among them) from that
	// window. Run discards packets the kernel stamped before attached,
	// until the first one stamped after it (or drainLimit has passed, in
	// case the clock stepped).
	attached time.Time
	draining bool

	// fdMu keeps Refilter, which attaches a filter from another
	// goroutine, off a socket Run has closed (Run closes it under fdMu).
	fdMu     sync.Mutex
	fdClosed bool

	state                          atomic.Int32
	packets, drops, errs, discards atomic.Uint64
}

// OpenAFPacket opens the ring on ifname and attaches the filter for spec
// now, so that a missing interface, an unsupported link type or a lack of
// privilege (CAP_NET_RAW) is reported at start-up. The socket lives in the
// calling thread's network namespace.
func OpenAFPacket(ifname string, spec FilterSpec) (*AFPacket, error) {
	s, err := openAFPacket(ifname, spec)
	if err != nil {
		return nil, fmt.Errorf("failed to open capture on %s: %w", ifname, err)
	}
	return s, nil
}

func openAFPacket(ifname string, spec FilterSpec) (*AFPacket, error) {
	hw, err := interfaceHWType(ifname)
	if err != nil {
		return nil, err
	}
	link, err := linkTypeOf(hw)
	if err != nil {
		return nil, err
	}
	raw, err := assemble(spec, link)
	if err != nil {
		return nil, err
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(ifname),
		afpacket.TPacketVersion3,
		afpacket.OptFrameSize(frameSize),
		afpacket.OptBlockSize(blockSize),
		afpacket.OptNumBlocks(numBlocks),
		afpacket.OptBlockTimeout(blockTimeout),
		afpacket.OptPollTimeout(pollTimeout),
	)
	if err != nil {
		return nil, err
	}
	if err := tp.SetBPF(raw); err != nil {
		tp.Close()
		return nil, fmt.Errorf("failed to attach filter (%d instructions): %w", len(raw), err)
	}
	return &AFPacket{ifname: ifname, link: link, tp: tp, attached: time.Now(), draining: true}, nil
}

func assemble(spec FilterSpec, link packet.LinkType) ([]bpf.RawInstruction, error) {
	prog, err := Filter(spec, link)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("failed to assemble filter: %w", err)
	}
	return raw, nil
}

// Refilter implements Refilterer: the filter for spec replaces the
// socket's before Refilter returns (SO_ATTACH_FILTER swaps it atomically
// in the kernel; the reader goes on reading). It fails on a socket that
// is closed.
func (s *AFPacket) Refilter(spec FilterSpec) error {
	raw, err := assemble(spec, s.link)
	if err != nil {
		return fmt.Errorf("capture on %s: %w", s.ifname, err)
	}
	s.fdMu.Lock()
	defer s.fdMu.Unlock()
	if s.fdClosed {
		return fmt.Errorf("capture on %s: closed", s.ifname)
	}
	if err := s.tp.SetBPF(raw); err != nil {
		return fmt.Errorf("capture on %s: failed to attach the new filter (%d instructions): %w", s.ifname, len(raw), err)
	}
	return nil
}

// closeSocket closes the ring and its socket, once.
func (s *AFPacket) closeSocket() {
	s.fdMu.Lock()
	defer s.fdMu.Unlock()
	if !s.fdClosed {
		s.fdClosed = true
		s.tp.Close()
	}
}

// LinkType says how the source's frames start.
func (s *AFPacket) LinkType() packet.LinkType { return s.link }

// Name is the interface's name.
func (s *AFPacket) Name() string { return s.ifname }

// Stats returns how many packets the filter passed and Run read from the
// ring, how many the kernel dropped because the ring was full, and how
// many did not decode into a hit (malformed, truncated, not TCP/UDP past
// an IPv6 extension header, later fragments). The drop count is refreshed
// by Run every statsEvery packets and whenever the interface is idle for a
// poll timeout. Safe to call from any goroutine.
func (s *AFPacket) Stats() Stats {
	return Stats{Packets: s.packets.Load(), Drops: s.drops.Load(), Undecodable: s.errs.Load()}
}

// Close releases a source that will not be Run. After Run has started,
// Run closes the socket itself when its context is cancelled, and Close
// does nothing.
func (s *AFPacket) Close() error {
	if s.state.CompareAndSwap(stateOpen, stateClosed) {
		s.closeSocket()
	}
	return nil
}

// Run reads packets until ctx is cancelled, decodes them and hands each hit
// to sink on this goroutine. It returns nil when ctx is cancelled and an
// error if the socket fails, notably when the interface goes down or is
// removed (the kernel flags the socket with ENETDOWN and poll reports an
// error; the caller reopens the source when the interface is back).
// Either way it closes the socket after its read loop has exited. Run may
// be called once.
//
// The per-packet path does not allocate. One exception is outside this
// package's control: when the NIC or driver stripped a VLAN tag, gopacket
// reports it by appending to CaptureInfo.AncillaryData, which allocates.
// Packets that do not decode are counted (DecodeErrors), never fatal.
func (s *AFPacket) Run(ctx context.Context, sink Sink) error {
	if !s.state.CompareAndSwap(stateOpen, stateRunning) {
		return fmt.Errorf("capture on %s: Run called twice or after Close", s.ifname)
	}
	defer func() {
		s.refreshStats()
		s.closeSocket()
		s.state.Store(stateClosed)
	}()
	var h packet.Hit
	done := ctx.Done()
	for {
		select {
		case <-done:
			return nil
		default:
		}
		if err := s.step(sink, &h); err != nil {
			if errors.Is(err, afpacket.ErrPoll) {
				return fmt.Errorf("capture on %s: interface down or removed: %w", s.ifname, err)
			}
			return fmt.Errorf("capture on %s: %w", s.ifname, err)
		}
	}
}

// step reads one packet (or waits up to pollTimeout for one) and delivers
// it. It is the body of Run's loop, separate so tests can measure it.
func (s *AFPacket) step(sink Sink, h *packet.Hit) error {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	switch {
	case err == nil:
	case errors.Is(err, afpacket.ErrTimeout):
		s.refreshStats()
		return nil
	default:
		return err
	}
	if n := s.packets.Add(1); n%statsEvery == 0 {
		s.refreshStats()
	}
	if s.draining {
		if ci.Timestamp.Before(s.attached) && time.Since(s.attached) < drainLimit {
			s.discards.Add(1)
			return nil
		}
		s.draining = false
	}
	s.deliver(data, h, sink)
	return nil
}

// deliver decodes one frame into h and hands it to sink.
func (s *AFPacket) deliver(frame []byte, h *packet.Hit, sink Sink) {
	if err := Decode(s.link, frame, h); err != nil {
		s.errs.Add(1)
		return
	}
	sink.Hit(h)
}

// refreshStats folds the kernel's counters (which reset on every read)
// into the source's. Only the goroutine that owns the socket calls it.
func (s *AFPacket) refreshStats() {
	if _, v3, err := s.tp.SocketStats(); err == nil {
		s.drops.Store(uint64(v3.Drops()))
	}
}
