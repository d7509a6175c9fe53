package capture

import "context"

// Source is one packet source feeding the matcher: AF_PACKET on an
// interface here, and the UDP listener, NFLOG group and pcap file in the
// packages beside this one. The daemon runs every source the same way, so
// a hit travels the same road whatever it was read from.
//
// A source is opened by its package's Open function, which does all that
// can fail at start-up (binding, attaching, installing a rule), so a
// daemon never half-starts. Run is then called once, on a goroutine that
// owns the source: it delivers hits to the sink on that goroutine, returns
// nil when ctx is cancelled, an error when the source fails, and releases
// what it holds before returning either way. Close releases a source that
// will never be Run (start-up failed elsewhere); after Run it does nothing.
type Source interface {
	Run(ctx context.Context, sink Sink) error
	Close() error
	// Name says what the source reads, for logs ("eth0", "udp", "nflog:5",
	// "pcap:/tmp/x.pcap").
	Name() string
	// Stats may be called from any goroutine.
	Stats() Stats
}

// Stats are a source's counters since it was opened.
type Stats struct {
	Packets     uint64 // read and handed to the decoder
	Drops       uint64 // lost before they were read (ring or socket buffer full)
	Undecodable uint64 // read but not decodable into a hit
}

// Ender is implemented by sources that come to a natural end (a pcap
// file): when Run returns nil before ctx is cancelled, the source is done
// and must not be reopened.
type Ender interface {
	Ends() bool
}

var _ Source = (*AFPacket)(nil)

// Refilterer is implemented by sources whose kernel filter can be replaced
// while they run (AF_PACKET): a reload that only changes the ports keeps
// the socket, its ring and what it holds, and swaps the filter.
type Refilterer interface {
	// Refilter checks and builds the filter for spec at once (an error
	// leaves the running filter alone); the goroutine running the source
	// attaches it before it reads its next packet, so the socket still
	// has one owner.
	Refilter(spec FilterSpec) error
}

var _ Refilterer = (*AFPacket)(nil)
