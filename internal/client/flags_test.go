package client

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sesame-knock/sesame/internal/packet"
)

// TestTCPSegment compares the raw knock's header, IPv4 checksum included,
// with gopacket's serialisation of the same fields.
func TestTCPSegment(t *testing.T) {
	t.Parallel()
	src, dst := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddrPort("198.51.100.7:110")
	for f := packet.TCPFlags(0); f <= packet.AllFlags; f++ {
		seq, ack := uint32(0x01020304)*uint32(f+1), uint32(0)
		if f&packet.ACK != 0 {
			ack = 0xdeadbeef
		}
		got := tcpSegment(50000, dst, f, seq, ack, src)
		ip := &layers.IPv4{SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.Addr().AsSlice()), Protocol: layers.IPProtocolTCP}
		tcp := &layers.TCP{SrcPort: 50000, DstPort: 110, Seq: seq, Ack: ack, DataOffset: 5, Window: tcpWindow,
			FIN: f&packet.FIN != 0, SYN: f&packet.SYN != 0, RST: f&packet.RST != 0,
			PSH: f&packet.PSH != 0, ACK: f&packet.ACK != 0, URG: f&packet.URG != 0}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, tcp); err != nil {
			t.Fatal(err)
		}
		if want := buf.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("flags %s:\n got % x\nwant % x", f, got, want)
		}
	}
	// IPv6: the checksum is the kernel's (IPV6_CHECKSUM), left 0.
	got := tcpSegment(50000, netip.MustParseAddrPort("[2001:db8::7]:110"), packet.SYN, 1, 0, netip.MustParseAddr("2001:db8::1"))
	if c := binary.BigEndian.Uint16(got[16:]); c != 0 {
		t.Errorf("IPv6 segment checksum %#04x, want 0 for the kernel to fill", c)
	}
}

func TestRandomSegment(t *testing.T) {
	t.Parallel()
	dst := netip.MustParseAddrPort("198.51.100.7:110")
	seen := map[uint16]bool{}
	for i := 0; i < 200; i++ {
		s := randomSegment(dst, packet.URG|packet.PSH, netip.MustParseAddr("192.0.2.10"))
		sp := binary.BigEndian.Uint16(s[0:])
		if sp < 49152 {
			t.Fatalf("source port %d, want 49152-65535", sp)
		}
		seen[sp] = true
		if ack := binary.BigEndian.Uint32(s[8:]); ack != 0 {
			t.Fatalf("ack number %d without ACK, want 0", ack)
		}
		if s[13] != byte(packet.URG|packet.PSH) {
			t.Fatalf("flags %#x, want URG+PSH", s[13])
		}
	}
	if len(seen) < 100 {
		t.Errorf("%d distinct source ports in 200 segments: not random", len(seen))
	}
}

func TestKnockErrorFlags(t *testing.T) {
	t.Parallel()
	e := &KnockError{Knock: raw(110, packet.URG|packet.PSH), Addr: netip.MustParseAddr("::1"), Err: ErrRawUnsupported}
	if got, want := e.Error(), "failed to knock tcp [::1]:110 (flags UP): "+ErrRawUnsupported.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCheckKnocksRaw(t *testing.T) {
	t.Parallel()
	for _, k := range []Knock{
		{Proto: packet.UDP, Port: 1, Raw: true},
		{Proto: packet.TCP, Port: 1, Raw: true, Flags: 0x40},
		{Proto: packet.TCP, Port: 1, Flags: packet.SYN},
	} {
		if err := checkKnocks([]Knock{k}); err == nil {
			t.Errorf("checkKnocks(%+v): no error", k)
		}
	}
}
