// Package pcapfile is the `pcap:FILE` capture source: it replays a capture
// file through the daemon, for tests and for reproducing reports. A user
// who says "the door did not open" can run tcpdump (or Wireshark, or
// dumpcap) while knocking, and the daemon replaying that file with the
// same configuration sees exactly the hits the live daemon saw.
//
// Both formats are read, pcap (micro- and nanosecond, either byte order)
// and pcapng, told apart by their magic number and transparently gunzipped,
// with gopacket's pure-Go pcapgo. The link types are those a live capture
// produces on Linux and the other systems tcpdump runs on: Ethernet (1),
// raw IP (101, and 228/229 for IPv4/IPv6 only), Linux cooked captures
// (SLL 113, SLL2 276, what tcpdump -i any writes), and BSD loopback (0 and
// 108, a 4-byte address family before the IP header, what tcpdump -i lo0
// writes on macOS). A pcapng file may hold several interfaces with
// different link types; Open checks the first one, and packets of a later
// interface whose link type is not supported are counted as undecodable.
//
// A record that does not decode (garbage, cut short by the snap length,
// ARP, ICMP) is counted in Stats.Undecodable and the replay goes on. A file
// whose structure is broken (a record longer than any snap length, a file
// cut in the middle of a record, a damaged pcapng block) ends Run with an
// error naming the file and the record: the records before it have been
// delivered, the ones after cannot be found.
//
// # Pacing
//
// With Options.Pace, Run delivers each packet when its timestamp comes due
// on the wall clock: the first at once, each later one at start +
// (timestamp - first timestamp), so sequence timeouts and the gaps between
// knocks behave as they did when the file was captured. Two exceptions keep
// a replay from stalling: a timestamp earlier than one already seen (files
// merged out of order) does not go back in time, its packet is delivered at
// once; and no single gap waits more than MaxGap, so a file captured across
// a night does not take the night to replay. Records without a timestamp
// (pcapng simple packet blocks) are delivered at once. Without Pace, the
// file is replayed as fast as the sink takes it.
package pcapfile

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/packet"
)

// MaxGap is the longest Run waits between two packets when pacing,
// whatever the timestamps say.
const MaxGap = 10 * time.Minute

const (
	stateOpen    = 0
	stateRunning = 1
	stateClosed  = 2
)

// Options shape a replay.
type Options struct {
	// Pace replays packets with the gaps between their timestamps (so
	// sequence timeouts behave as in the report), up to MaxGap each; false
	// replays as fast as possible.
	Pace bool
}

var (
	_ capture.Source = (*File)(nil)
	_ capture.Ender  = (*File)(nil)
)

// File replays one capture file. Open it, then call Run once; Run reads the
// file to its end and closes it.
type File struct {
	path  string
	file  io.Closer
	rd    packetReader
	ng    bool        // pcapng: each packet carries its interface's link type
	dec   linkDecoder // pcap: the file's
	pacer pacer

	records uint64 // packet records read so far (Run's goroutine only)

	state          atomic.Int32
	packets, undec atomic.Uint64
}

// packetReader is what pcapgo's Reader and NgReader have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Open opens the capture file at path and reads its header now, so that a
// missing file, a file that is not a capture, or one whose link type this
// source cannot decode fails at start-up, with the file's name.
func Open(path string, opts Options) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the file already
		}
		return nil, fmt.Errorf("failed to open capture file %s: %w", path, err)
	}
	s, err := newFile(path, f, f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// newFile is Open on any seekable reader, for tests and fuzzing.
func newFile(path string, r io.ReadSeeker, c io.Closer, opts Options) (*File, error) {
	s := &File{path: path, file: c, pacer: pacer{on: opts.Pace}}
	if err := s.open(r); err != nil {
		return nil, fmt.Errorf("failed to open capture file %s: %w", path, err)
	}
	return s, nil
}

var (
	errNotCapture = errors.New("not a pcap or pcapng capture file")
	errEmpty      = errors.New("file is empty")
)

// Magic numbers, as the first four bytes read in little-endian order.
const (
	magicPcapngLE   = 0x0A0D0D0A // the section header block type reads the same either way
	magicMicros     = 0xA1B2C3D4
	magicMicrosSwap = 0xD4C3B2A1
	magicNanos      = 0xA1B23C4D
	magicNanosSwap  = 0x4D3CB2A1
)

func (s *File) open(r io.ReadSeeker) error {
	br, magic, err := sniff(r)
	if err != nil {
		return err
	}
	switch magic {
	case magicMicros, magicMicrosSwap, magicNanos, magicNanosSwap:
		rd, err := pcapgo.NewReader(br)
		if err != nil {
			return headerError(err)
		}
		s.rd = rd
		if s.dec, err = decoderFor(rd.LinkType()); err != nil {
			return err
		}
		return nil
	case magicPcapngLE:
	default:
		return errNotCapture
	}

	// pcapng. With WantMixedLinkType, the reader tells each packet's link
	// type (interfaces may differ) but does not read the first interface
	// up front; without it, it does, and ignores packets of interfaces
	// whose type differs from the first. So the header is checked with one
	// reader, and the file replayed from the start with another.
	first, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	switch {
	case errors.Is(err, io.EOF):
		// A section header and nothing else: an empty capture.
	case err != nil:
		return headerError(err)
	default:
		if _, err := decoderFor(first.LinkType()); err != nil {
			return err
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if br, _, err = sniff(r); err != nil {
		return err
	}
	rd, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return headerError(err)
	}
	s.rd, s.ng = rd, true
	return nil
}

// sniff returns a reader positioned at the start of the (gunzipped) file
// and the file's first four bytes as a little-endian number.
func sniff(r io.Reader) (io.Reader, uint32, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(gz, 64<<10)
		head, err = br.Peek(4)
	}
	switch {
	case len(head) == 4:
		return br, uint32(head[0]) | uint32(head[1])<<8 | uint32(head[2])<<16 | uint32(head[3])<<24, nil
	case len(head) == 0 && errors.Is(err, io.EOF):
		return nil, 0, errEmpty
	case errors.Is(err, io.EOF):
		return nil, 0, errNotCapture
	}
	return nil, 0, err
}

// headerError words an error pcapgo found in a file's header.
func headerError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("header is cut short: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("bad header: %w", err)
}

// linkDecoder says how to decode a link type: with which packet.LinkType,
// after how many bytes of pseudo-header.
type linkDecoder struct {
	link  packet.LinkType
	strip int
}

// decoderFor maps a capture file's link type to its decoder, or says it is
// not supported.
func decoderFor(lt layers.LinkType) (linkDecoder, error) {
	if dec, ok := lookup(lt); ok {
		return dec, nil
	}
	if name := lt.String(); name != "UnknownLinkType" {
		return linkDecoder{}, fmt.Errorf("unsupported link type %d (%s)", uint16(lt), name)
	}
	return linkDecoder{}, fmt.Errorf("unsupported link type %d", uint16(lt))
}

func lookup(lt layers.LinkType) (linkDecoder, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return linkDecoder{link: packet.LinkEthernet}, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return linkDecoder{link: packet.LinkRaw}, true
	case layers.LinkTypeLinuxSLL:
		return linkDecoder{link: packet.LinkSLL}, true
	case layers.LinkTypeLinuxSLL2:
		return linkDecoder{link: packet.LinkSLL2}, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// The address family, 4 bytes in the capturing host's byte order
		// (Null) or network order (Loop): the raw decoder reads the IP
		// version from the header itself.
		return linkDecoder{link: packet.LinkRaw, strip: 4}, true
	}
	return linkDecoder{}, false
}

// Name is "pcap:" and the file's path.
func (s *File) Name() string { return "pcap:" + s.path }

// Ends reports true: Run returns nil at the end of the file, and the source
// is then done.
func (s *File) Ends() bool { return true }

// Stats returns how many packet records Run read and how many of them did
// not decode into a hit. A file has no drops. Safe to call from any
// goroutine.
func (s *File) Stats() capture.Stats {
	return capture.Stats{Packets: s.packets.Load(), Undecodable: s.undec.Load()}
}

// Close releases a file that will not be Run. After Run has started, Run
// closes the file itself, and Close does nothing.
func (s *File) Close() error {
	if s.state.CompareAndSwap(stateOpen, stateClosed) {
		return s.file.Close()
	}
	return nil
}

// Run replays the file, handing each hit to sink on this goroutine. It
// returns nil at the end of the file or when ctx is cancelled (also in the
// middle of a paced gap), and an error naming the file and the record when
// the file's structure is broken. It closes the file before returning.
// Run may be called once.
func (s *File) Run(ctx context.Context, sink capture.Sink) error {
	if !s.state.CompareAndSwap(stateOpen, stateRunning) {
		return fmt.Errorf("%s: Run called twice or after Close", s.Name())
	}
	defer func() {
		s.file.Close()
		s.pacer.stop()
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
		more, err := s.step(done, sink, &h)
		if err != nil || !more {
			return err
		}
	}
}

// step reads one record and, if it decodes, delivers it when it is due.
// It reports false at the end of the file or when done is closed while it
// waits. It is the body of Run's loop, separate so tests can measure it.
func (s *File) step(done <-chan struct{}, sink capture.Sink, h *packet.Hit) (more bool, err error) {
	data, ci, err := s.rd.ZeroCopyReadPacketData()
	if err != nil {
		return false, s.readError(err, ci)
	}
	s.records++
	s.packets.Add(1)
	due := s.pacer.due(ci.Timestamp)
	dec, ok := s.dec, true
	if s.ng {
		dec, ok = s.decoder(ci)
	}
	if !ok {
		s.undec.Add(1)
		return true, nil
	}
	if len(data) < dec.strip || capture.Decode(dec.link, data[dec.strip:], h) != nil {
		s.undec.Add(1)
		return true, nil
	}
	if !s.pacer.wait(done, due) {
		return false, nil
	}
	sink.Hit(h)
	return true, nil
}

// decoder returns the decoder for a pcapng packet's link type, which the
// reader passes in ci.AncillaryData[0].
func (s *File) decoder(ci gopacket.CaptureInfo) (linkDecoder, bool) {
	if len(ci.AncillaryData) == 0 {
		return linkDecoder{}, false
	}
	lt, ok := ci.AncillaryData[0].(layers.LinkType)
	if !ok {
		return linkDecoder{}, false
	}
	return lookup(lt)
}

// readError turns the error of a record read into Run's result: nil at a
// clean end of file, an error naming the file and record otherwise.
func (s *File) readError(err error, ci gopacket.CaptureInfo) error {
	// pcapgo's pcap reader returns io.EOF also when a record header was
	// read whole and the file ends before its data.
	if err == io.EOF && ci.CaptureLength == 0 {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("file ends inside the record: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("failed to read capture file %s: record %d: %w", s.path, s.records+1, err)
}

// pacer schedules a paced replay (see the package comment).
type pacer struct {
	on      bool
	started bool
	start   time.Time     // wall clock when the first timestamped record was read
	last    time.Time     // the latest capture timestamp seen
	offset  time.Duration // when the latest record is due, from start
	timer   *time.Timer
}

// due returns when the record stamped ts is due on the wall clock (the zero
// time when not pacing, or when the record has no timestamp: at once).
func (p *pacer) due(ts time.Time) time.Time {
	if !p.on || ts.IsZero() {
		return time.Time{}
	}
	if !p.started {
		p.started, p.start, p.last = true, time.Now(), ts
		return p.start
	}
	if gap := ts.Sub(p.last); gap > 0 {
		p.offset += min(gap, MaxGap)
		p.last = ts
	}
	return p.start.Add(p.offset)
}

// wait sleeps until t, and reports false if done was closed first.
func (p *pacer) wait(done <-chan struct{}, t time.Time) bool {
	if t.IsZero() {
		return true
	}
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-done:
		p.timer.Stop()
		return false
	case <-p.timer.C:
		return true
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
