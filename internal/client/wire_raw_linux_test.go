//go:build linux

package client

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// validTCPChecksum reports whether seg's checksum is right for a segment
// from src to dst: the one's complement sum of the pseudo-header (RFC 793
// for IPv4, RFC 8200 §8.1 for IPv6) and the segment, checksum included,
// is 0xffff. Written apart from the client's own checksum code.
func validTCPChecksum(src, dst netip.Addr, seg []byte) bool {
	var sum uint64
	words := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint64(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint64(b[len(b)-1]) << 8
		}
	}
	s, d := src.AsSlice(), dst.AsSlice()
	words(s)
	words(d)
	sum += uint64(len(seg)) + uint64(packet.TCP) // the length and next header
	words(seg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// TestWireFlagKnocks sends tportknockd's flag-knocking example (one port,
// the flags tell the knocks apart) and checks every captured segment: one
// per knock, in order, with exactly the frame's flags, a bare 20-byte
// header as documented, and a valid checksum.
func TestWireFlagKnocks(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			dst := netip.MustParseAddr(host)
			port := closedTCPPort(t, dst)
			p := func(s string) string { return strings.ReplaceAll(s, "110", strconv.Itoa(int(port))) }
			_, knocks, err := ParseArgs(strings.Fields(p("srv tcp:110:x tcp:110:up tcp:110:up tcp:110:n tcp:110:i")), packet.TCP)
			if err != nil {
				t.Fatal(err)
			}
			wantFlags := []packet.TCPFlags{packet.AllFlags, packet.URG | packet.PSH, packet.URG | packet.PSH, 0, packet.SYN}
			c := openCapture(t, []uint16{port})
			var verbose strings.Builder
			var waits int
			o := Options{Hosts: []string{host}, Knocks: knocks, Verbose: &verbose, Delay: 5 * time.Millisecond,
				wait: func(ctx context.Context, d time.Duration) error { waits++; return sleep(ctx, d) }}
			if err := Run(context.Background(), o); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if waits != len(knocks)-1 {
				t.Errorf("%d delays, want %d", waits, len(knocks)-1)
			}
			wantV := p("hitting tcp " + host + ":110 (flags UAPRSF)\nhitting tcp " + host + ":110 (flags UP)\nhitting tcp " + host +
				":110 (flags UP)\nhitting tcp " + host + ":110 (flags none)\nhitting tcp " + host + ":110\n")
			if verbose.String() != wantV {
				t.Errorf("-v output:\n%s\nwant:\n%s", verbose.String(), wantV)
			}
			var got []wirePacket
			for _, w := range c.collect(t, 300*time.Millisecond) {
				if w.src.Addr() == dst && w.dst == netip.AddrPortFrom(dst, port) && w.proto == packet.TCP {
					got = append(got, w)
				}
			}
			if len(got) != len(knocks) {
				t.Fatalf("captured %d segments to port %d, want %d (one per knock):\n%v", len(got), port, len(knocks), got)
			}
			for i, w := range got {
				if w.flags != wantFlags[i] {
					t.Errorf("segment %d is %v, want flags %s exactly", i, w, wantFlags[i])
				}
				if !knocks[i].Raw {
					// The plain SYN of "i" is the kernel's, and on lo its
					// checksum is left to (virtual) offload.
					continue
				}
				h := w.l4
				if len(h) != 20 {
					t.Errorf("segment %d is %d bytes, want a bare 20-byte header", i, len(h))
					continue
				}
				if !validTCPChecksum(w.src.Addr(), w.dst.Addr(), h) {
					t.Errorf("segment %d (%v) has a bad checksum %#04x", i, w, binary.BigEndian.Uint16(h[16:]))
				}
				if sp := w.src.Port(); sp < 49152 {
					t.Errorf("segment %d: source port %d, want 49152-65535", i, sp)
				}
				if ack := binary.BigEndian.Uint32(h[8:]); w.flags&packet.ACK == 0 && ack != 0 {
					t.Errorf("segment %d: ack number %d without ACK, want 0", i, ack)
				}
				if off, win, urp := h[12]>>4, binary.BigEndian.Uint16(h[14:]), binary.BigEndian.Uint16(h[18:]); off != 5 || win != 64240 || urp != 0 || h[12]&0x0f != 0 {
					t.Errorf("segment %d: data offset %d, window %d, urgent %d, reserved %#x; want 5, 64240, 0, 0", i, off, win, urp, h[12]&0x0f)
				}
			}
		})
	}
}

// TestWireFlagKnockSource: with --source the raw segment leaves from that
// address, and its IPv4 checksum is computed for it.
func TestWireFlagKnockSource(t *testing.T) {
	dst, src := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	port := closedTCPPort(t, dst)
	c := openCapture(t, []uint16{port})
	o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{raw(port, packet.SYN|packet.FIN)}, Source: src}
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var n int
	for _, w := range c.collect(t, 300*time.Millisecond) {
		if w.dst.Addr() != dst || w.proto != packet.TCP {
			continue
		}
		n++
		if w.src.Addr() != src || w.flags != packet.SYN|packet.FIN || !validTCPChecksum(w.src.Addr(), w.dst.Addr(), w.l4) {
			t.Errorf("%v: want a FIN+SYN from %s with a valid checksum", w, src)
		}
	}
	if n != 1 {
		t.Errorf("captured %d segments, want 1", n)
	}
}

// TestWireMixedSequence is the seed's mixed sequence: UDP, plain SYNs and
// flag knocks, in order.
func TestWireMixedSequence(t *testing.T) {
	dst := netip.MustParseAddr("127.0.0.1")
	u, t1, t2, t3, t4, t5 := freeUDPPort(t, dst), closedTCPPort(t, dst), closedTCPPort(t, dst), closedTCPPort(t, dst), closedTCPPort(t, dst), closedTCPPort(t, dst)
	args := []string{"127.0.0.1", "udp:" + strconv.Itoa(int(u)), "tcp:" + strconv.Itoa(int(t1)), "tcp:" + strconv.Itoa(int(t2)) + ":i",
		"tcp:" + strconv.Itoa(int(t3)) + ":frap", "tcp:" + strconv.Itoa(int(t4)) + ":x", "tcp:" + strconv.Itoa(int(t5)) + ":n"}
	hosts, knocks, err := ParseArgs(args, packet.TCP)
	if err != nil {
		t.Fatal(err)
	}
	c := openCapture(t, []uint16{u, t1, t2, t3, t4, t5})
	if err := Run(context.Background(), Options{Hosts: hosts, Knocks: knocks}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	type seen struct {
		proto packet.Proto
		port  uint16
		flags packet.TCPFlags
	}
	want := []seen{{packet.UDP, u, 0}, {packet.TCP, t1, packet.SYN}, {packet.TCP, t2, packet.SYN},
		{packet.TCP, t3, packet.FIN | packet.RST | packet.PSH | packet.ACK}, {packet.TCP, t4, packet.AllFlags}, {packet.TCP, t5, 0}}
	var got []seen
	for _, w := range c.collect(t, 300*time.Millisecond) {
		if w.src.Addr() == dst && w.dst.Addr() == dst {
			got = append(got, seen{w.proto, w.dst.Port(), w.flags})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("captured %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d is %v, want %v", i, got[i], want[i])
		}
	}
}
