package pcapfile

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/packet"
)

// wait bounds every wait in these tests.
const wait = 5 * time.Second

var (
	addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	t0        = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	knock     = []byte("knock\n")
)

// pkt is one TCP SYN or UDP datagram to build.
type pkt struct {
	src, dst netip.AddrPort
	udp      bool
	payload  []byte
}

var (
	syn4  = pkt{src: netip.MustParseAddrPort("198.18.16.1:40000"), dst: netip.MustParseAddrPort("198.18.0.1:7000")}
	udp4  = pkt{src: netip.MustParseAddrPort("198.18.16.1:40001"), dst: netip.MustParseAddrPort("198.18.0.1:8000"), udp: true, payload: knock}
	syn6  = pkt{src: netip.MustParseAddrPort("[fd00:5e5a::1:1]:40002"), dst: netip.MustParseAddrPort("[fd00:5e5a::1]:9000")}
	udp6  = pkt{src: netip.MustParseAddrPort("[fd00:5e5a::1:1]:40003"), dst: netip.MustParseAddrPort("[fd00:5e5a::1]:7500"), udp: true, payload: knock}
	mixed = []pkt{syn4, udp4, syn6, udp6}
)

// ip returns the packet from its IP header on.
func (p pkt) ip(t testing.TB) []byte {
	t.Helper()
	var net gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	if p.src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		net, ls = ip, append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		net, ls = ip, append(ls, ip)
	}
	if p.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
		u.SetNetworkLayerForChecksum(net)
		ls = append(ls, u)
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()), SYN: true, Seq: 1, Window: 64240}
		tc.SetNetworkLayerForChecksum(net)
		ls = append(ls, tc)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frame returns the packet behind the link header of lt.
func (p pkt) frame(t testing.TB, lt layers.LinkType) []byte {
	t.Helper()
	ip := p.ip(t)
	v6 := p.src.Addr().Is6()
	etype := uint16(0x0800)
	if v6 {
		etype = 0x86DD
	}
	var hdr []byte
	switch lt {
	case layers.LinkTypeEthernet:
		hdr = []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0, 0}
		binary.BigEndian.PutUint16(hdr[12:], etype)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
	case layers.LinkTypeLinuxSLL:
		hdr = make([]byte, 16) // packet type 0 (to us), ARPHRD 1, address length 6
		hdr[3], hdr[5] = 1, 6
		binary.BigEndian.PutUint16(hdr[14:], etype)
	case layers.LinkTypeLinuxSLL2:
		hdr = make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:], etype)
		hdr[4+3], hdr[9], hdr[11] = 2, 1, 6 // ifindex 2, ARPHRD 1, address length 6
	case layers.LinkTypeNull: // host byte order; macOS's AF_INET6 is 30
		hdr = []byte{2, 0, 0, 0}
		if v6 {
			hdr[0] = 30
		}
	case layers.LinkTypeLoop: // network byte order; OpenBSD's AF_INET6 is 24
		hdr = []byte{0, 0, 0, 2}
		if v6 {
			hdr[3] = 24
		}
	default:
		t.Fatalf("no frame for link type %d", lt)
	}
	return append(hdr, ip...)
}

// hit is the hit the packet decodes into.
func (p pkt) hit() packet.Hit {
	h := packet.Hit{
		Src: p.src.Addr(), SrcPort: p.src.Port(), Dst: p.dst.Addr(), DstPort: p.dst.Port(),
		Proto: packet.TCP, Flags: packet.SYN, PayloadLen: uint16(len(p.payload)),
	}
	if p.udp {
		h.Proto, h.Flags = packet.UDP, 0
		h.SetHead(p.payload)
	}
	return h
}

// rec is one record of a capture file.
type rec struct {
	ts    time.Time
	data  []byte
	iface int // pcapng interface
}

// recs stamps frames 1 ms apart.
func recs(frames ...[]byte) []rec {
	var rs []rec
	for i, f := range frames {
		rs = append(rs, rec{ts: t0.Add(time.Duration(i) * time.Millisecond), data: f})
	}
	return rs
}

func pcapBytes(t testing.TB, lt layers.LinkType, rs []rec) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: len(r.data)}, r.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func pcapngBytes(t testing.TB, lts []layers.LinkType, rs []rec) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: lts[0], SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range lts[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: lt, SnapLength: 65535}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rs {
		ci := gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: len(r.data), InterfaceIndex: r.iface}
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// collect is a sink that keeps copies of the hits, with when they came.
type collect struct {
	hits []packet.Hit
	at   []time.Time
}

func (c *collect) Hit(h *packet.Hit) {
	c.hits = append(c.hits, *h)
	c.at = append(c.at, time.Now())
}

// replay opens path and runs it to its end.
func replay(t *testing.T, path string, opts Options) (*File, *collect, error) {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var c collect
	err = s.Run(t.Context(), &c)
	return s, &c, err
}

func hitsOf(ps []pkt) []packet.Hit {
	var hs []packet.Hit
	for _, p := range ps {
		hs = append(hs, p.hit())
	}
	return hs
}

func TestReplay(t *testing.T) {
	t.Parallel()
	v4 := []pkt{syn4, udp4}
	v6 := []pkt{syn6, udp6}
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		pkts []pkt
	}{
		{"ethernet", layers.LinkTypeEthernet, mixed},
		{"raw", layers.LinkTypeRaw, mixed},
		{"ipv4", layers.LinkTypeIPv4, v4},
		{"ipv6", layers.LinkTypeIPv6, v6},
		{"sll", layers.LinkTypeLinuxSLL, mixed},
		{"sll2", layers.LinkTypeLinuxSLL2, mixed},
		{"null", layers.LinkTypeNull, mixed},
		{"loop", layers.LinkTypeLoop, mixed},
	} {
		var frames [][]byte
		for _, p := range tc.pkts {
			frames = append(frames, p.frame(t, tc.lt))
		}
		rs := recs(frames...)
		for _, f := range []struct {
			name string
			b    []byte
		}{
			{"pcap", pcapBytes(t, tc.lt, rs)},
			{"pcapng", pcapngBytes(t, []layers.LinkType{tc.lt}, rs)},
			{"pcap.gz", gzipped(t, pcapBytes(t, tc.lt, rs))},
			{"pcapng.gz", gzipped(t, pcapngBytes(t, []layers.LinkType{tc.lt}, rs))},
		} {
			t.Run(tc.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				path := writeFile(t, "x."+f.name, f.b)
				s, c, err := replay(t, path, Options{})
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if diff := cmp.Diff(hitsOf(tc.pkts), c.hits, addrEqual); diff != "" {
					t.Errorf("hits (-want +got):\n%s", diff)
				}
				if got, want := s.Stats(), (capture.Stats{Packets: uint64(len(rs))}); got != want {
					t.Errorf("Stats = %+v, want %+v", got, want)
				}
				if s.Name() != "pcap:"+path || !s.Ends() {
					t.Errorf("Name %q Ends %v, want %q true", s.Name(), s.Ends(), "pcap:"+path)
				}
			})
		}
	}
}

// The knock payload survives the replay: port-knocking-doors' check works
// on a file.
func TestReplayPayload(t *testing.T) {
	t.Parallel()
	long := udp4
	long.payload = []byte("knock\nknock\nknock\nknock\n")
	path := writeFile(t, "x.pcap", pcapBytes(t, layers.LinkTypeEthernet, recs(udp4.frame(t, layers.LinkTypeEthernet), long.frame(t, layers.LinkTypeEthernet))))
	_, c, err := replay(t, path, Options{})
	if err != nil || len(c.hits) != 2 {
		t.Fatalf("Run: %v, %d hits", err, len(c.hits))
	}
	if !c.hits[0].HasPayload(knock) || c.hits[1].HasPayload(knock) || c.hits[1].PayloadLen != 24 {
		t.Errorf("hits %v %v: HasPayload %v %v, want true false", c.hits[0], c.hits[1], c.hits[0].HasPayload(knock), c.hits[1].HasPayload(knock))
	}
}

func TestUndecodableSkipped(t *testing.T) {
	t.Parallel()
	eth := layers.LinkTypeEthernet
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
	cut := syn4.frame(t, eth)[:14+10]
	icmp := append(syn4.frame(t, eth)[:14+20], make([]byte, 8)...)
	icmp[14+9] = 1 // protocol ICMP
	rs := recs(syn4.frame(t, eth), []byte{1, 2, 3}, arp, nil, cut, icmp, udp6.frame(t, eth))
	for name, b := range map[string][]byte{
		"pcap":   pcapBytes(t, eth, rs),
		"pcapng": pcapngBytes(t, []layers.LinkType{eth}, rs),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, err := replay(t, writeFile(t, "x."+name, b), Options{})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(hitsOf([]pkt{syn4, udp6}), c.hits, addrEqual); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
			if got, want := s.Stats(), (capture.Stats{Packets: 7, Undecodable: 5}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

// A pcapng file may hold interfaces of several link types: each packet is
// decoded with its own, and one this source cannot decode only costs its
// packets.
func TestPcapngMixedLinkTypes(t *testing.T) {
	t.Parallel()
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIEEE802_11, layers.LinkTypeLinuxSLL2}
	rs := []rec{
		{ts: t0, data: syn4.frame(t, layers.LinkTypeEthernet), iface: 0},
		{ts: t0, data: udp4.frame(t, layers.LinkTypeRaw), iface: 1},
		{ts: t0, data: syn6.frame(t, layers.LinkTypeEthernet), iface: 2},
		{ts: t0, data: udp6.frame(t, layers.LinkTypeLinuxSLL2), iface: 3},
		{ts: t0, data: syn6.frame(t, layers.LinkTypeEthernet), iface: 0},
	}
	s, c, err := replay(t, writeFile(t, "x.pcapng", pcapngBytes(t, lts, rs)), Options{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(hitsOf([]pkt{syn4, udp4, udp6, syn6}), c.hits, addrEqual); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
	if got, want := s.Stats(), (capture.Stats{Packets: 5, Undecodable: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	eth := pcapBytes(t, layers.LinkTypeEthernet, nil)
	for _, tc := range []struct {
		name string
		b    []byte // nil: no file
		want string // after "failed to open capture file PATH: "
	}{
		{"missing", nil, "no such file or directory"},
		{"text", []byte("Sequence = 7000,8000,9000\n"), "not a pcap or pcapng capture file"},
		{"empty", []byte{}, "file is empty"},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, "not a pcap or pcapng capture file"},
		{"pcap header cut", eth[:10], "header is cut short: unexpected EOF"},
		{"pcapng header cut", pcapngBytes(t, []layers.LinkType{layers.LinkTypeEthernet}, nil)[:20], "header is cut short: unexpected EOF"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0, 0}, "gzip: unexpected EOF"},
		{"pcap 802.11", pcapBytes(t, layers.LinkTypeIEEE802_11, nil), "unsupported link type 105"},
		{"pcap unknown", pcapBytes(t, 147, nil), "unsupported link type 147"},
		{"pcapng 802.11", pcapngBytes(t, []layers.LinkType{layers.LinkTypeIEEE802_11, layers.LinkTypeEthernet}, nil), "unsupported link type 105"},
		{"gzipped 802.11", gzipped(t, pcapBytes(t, layers.LinkTypeIEEE802_11, nil)), "unsupported link type 105"},
		{"pcap bad version", append(append([]byte{}, eth[:4]...), append([]byte{9, 0}, eth[6:]...)...), "bad header: Unknown major version 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "report.pcap")
			if tc.b != nil {
				path = writeFile(t, "report.pcap", tc.b)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !strings.HasPrefix(err.Error(), "failed to open capture file") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to name %s and say %q", err, path, tc.want)
			}
		})
	}
}

// An empty capture (a header and no packets) is a capture.
func TestEmpty(t *testing.T) {
	t.Parallel()
	ng := pcapngBytes(t, []layers.LinkType{layers.LinkTypeEthernet}, nil)
	shb := binary.LittleEndian.Uint32(ng[4:]) // the section header block's length
	for name, b := range map[string][]byte{
		"pcap":        pcapBytes(t, layers.LinkTypeEthernet, nil),
		"pcapng":      ng,
		"pcapng bare": ng[:shb], // a section header and no interface
	} {
		s, c, err := replay(t, writeFile(t, "x", b), Options{})
		if err != nil || len(c.hits) != 0 || s.Stats() != (capture.Stats{}) {
			t.Errorf("%s: Run %v, %d hits, %+v", name, err, len(c.hits), s.Stats())
		}
	}
}

// A broken structure ends the replay with an error naming the file and
// the record, after the records before it were delivered.
func TestCorrupt(t *testing.T) {
	t.Parallel()
	eth := layers.LinkTypeEthernet
	rs := recs(syn4.frame(t, eth), udp4.frame(t, eth), syn6.frame(t, eth))
	pc := pcapBytes(t, eth, rs)
	ng := pcapngBytes(t, []layers.LinkType{eth}, rs)
	third := len(pc) - 16 - len(rs[2].data) // offset of the third record's header
	huge := bytes.Clone(pc)
	binary.LittleEndian.PutUint32(huge[third+8:], 1<<20) // captured length
	binary.LittleEndian.PutUint32(huge[third+12:], 1<<20)
	longer := bytes.Clone(pc)
	binary.LittleEndian.PutUint32(longer[third+8:], uint32(len(rs[2].data)+1)) // captured > original length
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"pcap cut in the data", pc[:len(pc)-5], "record 3: file ends inside the record: unexpected EOF"},
		{"pcap cut after a record header", pc[:third+16], "record 3: file ends inside the record: unexpected EOF"},
		{"pcap cut in a record header", pc[:third+7], "record 3: file ends inside the record: unexpected EOF"},
		{"pcap record longer than any snap length", huge, "record 3: capture length exceeds snap length"},
		{"pcap captured more than the packet", longer, "record 3: capture length exceeds original packet length"},
		{"pcapng cut", ng[:len(ng)-5], "record 3: file ends inside the record: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "report.pcap", tc.b)
			s, c, err := replay(t, path, Options{})
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want an error naming %s and saying %q", err, path, tc.want)
			}
			if diff := cmp.Diff(hitsOf([]pkt{syn4, udp4}), c.hits, addrEqual); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
			if got := s.Stats().Packets; got != 2 {
				t.Errorf("Stats.Packets = %d, want 2", got)
			}
		})
	}
}

func TestPace(t *testing.T) {
	t.Parallel()
	const gap = 30 * time.Millisecond
	eth := layers.LinkTypeEthernet
	ps := []pkt{syn4, udp4, syn6, udp6}
	var rs []rec
	for i, p := range ps {
		rs = append(rs, rec{ts: t0.Add(time.Duration(i) * gap), data: p.frame(t, eth)})
	}
	// Out of order: stamped before the previous one, delivered at once.
	rs = append(rs, rec{ts: t0.Add(gap), data: syn4.frame(t, eth)})
	for name, b := range map[string][]byte{
		"pcap":   pcapBytes(t, eth, rs),
		"pcapng": pcapngBytes(t, []layers.LinkType{eth}, rs),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "x", b)
			s, err := Open(path, Options{Pace: true})
			if err != nil {
				t.Fatal(err)
			}
			var c collect
			start := time.Now()
			if err := s.Run(t.Context(), &c); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(start); took < 3*gap {
				t.Errorf("Run took %v, want at least %v", took, 3*gap)
			}
			if diff := cmp.Diff(hitsOf(append(ps, syn4)), c.hits, addrEqual); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
			for i := 1; i < len(ps); i++ {
				if d := c.at[i].Sub(c.at[0]); d < time.Duration(i)*gap {
					t.Errorf("hit %d came %v after the first, want at least %v", i, d, time.Duration(i)*gap)
				}
			}
		})
	}
}

// The pacer's schedule, clock-free.
func TestPacerDue(t *testing.T) {
	t.Parallel()
	p := pacer{on: true}
	if d := p.due(time.Time{}); !d.IsZero() {
		t.Errorf("no timestamp: due %v, want at once", d)
	}
	start := p.due(t0)
	for _, tc := range []struct {
		name  string
		ts    time.Time
		after time.Duration // due this long after the first record
	}{
		{"gap", t0.Add(30 * time.Millisecond), 30 * time.Millisecond},
		{"same time", t0.Add(30 * time.Millisecond), 30 * time.Millisecond},
		{"earlier", t0.Add(-time.Hour), 30 * time.Millisecond},
		{"back to order", t0.Add(40 * time.Millisecond), 40 * time.Millisecond},
		{"a night", t0.Add(8 * time.Hour), 40*time.Millisecond + MaxGap},
		{"then a second", t0.Add(8*time.Hour + time.Second), 40*time.Millisecond + MaxGap + time.Second},
	} {
		if got := p.due(tc.ts).Sub(start); got != tc.after {
			t.Errorf("%s: due %v after the first, want %v", tc.name, got, tc.after)
		}
	}
	if d := (&pacer{}).due(t0); !d.IsZero() {
		t.Errorf("not pacing: due %v, want at once", d)
	}
}

// Cancelling a paced replay in the middle of a long gap returns at once.
func TestCancelDuringGap(t *testing.T) {
	t.Parallel()
	eth := layers.LinkTypeEthernet
	rs := []rec{{ts: t0, data: syn4.frame(t, eth)}, {ts: t0.Add(time.Hour), data: udp4.frame(t, eth)}}
	s, err := Open(writeFile(t, "x.pcap", pcapBytes(t, eth, rs)), Options{Pace: true})
	if err != nil {
		t.Fatal(err)
	}
	hits := make(chan packet.Hit, 2)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, capture.SinkFunc(func(h *packet.Hit) { hits <- *h })) }()
	select {
	case <-hits:
	case <-time.After(wait):
		t.Fatalf("no first hit within %v", wait)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run did not return within %v of cancel", wait)
	}
	if len(hits) != 0 {
		t.Errorf("the second packet was delivered")
	}
}

func TestCloseWithoutRun(t *testing.T) {
	t.Parallel()
	s, err := Open(writeFile(t, "x.pcap", pcapBytes(t, layers.LinkTypeEthernet, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Run(t.Context(), &collect{}); err == nil {
		t.Errorf("Run after Close succeeded")
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	s, c, err := replay(t, writeFile(t, "x.pcap", pcapBytes(t, layers.LinkTypeEthernet, recs(syn4.frame(t, layers.LinkTypeEthernet)))), Options{})
	if err != nil || len(c.hits) != 1 {
		t.Fatalf("Run: %v, %d hits", err, len(c.hits))
	}
	if err := s.Run(t.Context(), c); err == nil {
		t.Errorf("second Run succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	eth := layers.LinkTypeEthernet
	s, err := Open(writeFile(t, "x.pcap", pcapBytes(t, eth, recs(syn4.frame(t, eth)))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var c collect
	if err := s.Run(ctx, &c); err != nil || len(c.hits) != 0 {
		t.Errorf("Run with a cancelled context: %v, %d hits", err, len(c.hits))
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// open opens an in-memory file.
func open(t testing.TB, b []byte, opts Options) *File {
	t.Helper()
	s, err := newFile("mem", bytes.NewReader(b), nopCloser{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Reading, decoding and delivering a record does not allocate.
func TestStepAllocs(t *testing.T) {
	const n = 1200
	for _, tc := range []struct {
		name  string
		lt    layers.LinkType
		ng    bool
		pace  bool
		limit float64
	}{
		{"pcap ethernet", layers.LinkTypeEthernet, false, false, 0},
		{"pcap ethernet paced", layers.LinkTypeEthernet, false, true, 0},
		{"pcap sll2", layers.LinkTypeLinuxSLL2, false, false, 0},
		{"pcapng ethernet", layers.LinkTypeEthernet, true, false, 0},
		{"pcapng raw paced", layers.LinkTypeRaw, true, true, 0},
		// pcapgo boxes each packet's link type in an interface; values
		// above 255 (SLL2 is 276) take a 2-byte allocation.
		{"pcapng sll2", layers.LinkTypeLinuxSLL2, true, false, 1},
	} {
		rs := make([]rec, n)
		for i := range rs {
			rs[i] = rec{ts: t0, data: mixed[i%len(mixed)].frame(t, tc.lt)}
		}
		b := pcapBytes(t, tc.lt, rs)
		if tc.ng {
			b = pcapngBytes(t, []layers.LinkType{tc.lt}, rs)
		}
		s := open(t, b, Options{Pace: tc.pace})
		var h packet.Hit
		got := 0
		sink := capture.SinkFunc(func(*packet.Hit) { got++ })
		allocs := testing.AllocsPerRun(1000, func() {
			if more, err := s.step(nil, sink, &h); !more || err != nil {
				t.Fatalf("%s: step: %v %v", tc.name, more, err)
			}
		})
		if got != 1001 {
			t.Errorf("%s: %d hits, want 1001", tc.name, got)
		}
		if allocs > tc.limit {
			t.Errorf("%s: %.1f allocations per record, want at most %.0f", tc.name, allocs, tc.limit)
		}
		t.Logf("%s: %.1f allocations per record", tc.name, allocs)
	}
}

func BenchmarkReplay(b *testing.B) {
	eth := layers.LinkTypeEthernet
	rs := make([]rec, 10000)
	for i := range rs {
		rs[i] = rec{ts: t0, data: mixed[i%len(mixed)].frame(b, eth)}
	}
	file := pcapBytes(b, eth, rs)
	sink := capture.SinkFunc(func(*packet.Hit) {})
	b.ReportAllocs()
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		s := open(b, file, Options{})
		if err := s.Run(context.Background(), sink); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzReplay: whatever the bytes, opening and replaying them never panics
// and ends.
func FuzzReplay(f *testing.F) {
	eth := layers.LinkTypeEthernet
	rs := recs(syn4.frame(f, eth), udp4.frame(f, eth), syn6.frame(f, eth), udp6.frame(f, eth))
	f.Add(pcapBytes(f, eth, rs))
	f.Add(pcapBytes(f, layers.LinkTypeNull, recs(udp4.frame(f, layers.LinkTypeNull))))
	f.Add(pcapngBytes(f, []layers.LinkType{eth, layers.LinkTypeLinuxSLL2}, []rec{{ts: t0, data: udp6.frame(f, layers.LinkTypeLinuxSLL2), iface: 1}}))
	f.Add(pcapngBytes(f, []layers.LinkType{eth}, rs))
	f.Add(gzipped(f, pcapBytes(f, eth, rs)))
	f.Add([]byte("not a capture"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := newFile("fuzz", bytes.NewReader(b), nopCloser{}, Options{})
		if err != nil {
			return
		}
		n := uint64(0)
		err = s.Run(context.Background(), capture.SinkFunc(func(h *packet.Hit) {
			n++
			if h.Proto != packet.TCP && h.Proto != packet.UDP {
				t.Fatalf("hit with protocol %v", h.Proto)
			}
		}))
		st := s.Stats()
		if n+st.Undecodable != st.Packets {
			t.Errorf("%d hits + %d undecodable != %d packets (Run: %v)", n, st.Undecodable, st.Packets, err)
		}
		if err != nil && !strings.Contains(err.Error(), "fuzz: record ") {
			t.Errorf("error %q does not name the file and record", err)
		}
	})
}
