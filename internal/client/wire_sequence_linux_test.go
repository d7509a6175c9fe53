//go:build linux

package client

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/totp"
)

// These tests watch the wire as wire_linux_test.go does (AF_PACKET on lo,
// root needed, skipped without it except in CI) while the sesame command's
// replay-proof sources knock: what leaves must be exactly the sequence
// the server derives.

// openRangeCapture is openCapture for a range of destination ports (a
// cipher knock's window of 256 ports is too many for portFilter's jumps).
func openRangeCapture(t *testing.T, lo, hi uint16) *capture {
	t.Helper()
	c := openCapture(t, []uint16{lo})
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0},                         // 0: A = version<<4 | ihl
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0xf0},                     // 1
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x40, Jt: 0, Jf: 3},       // 2: IPv4? else 6
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0},                        // 3: X = ihl*4
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 2},                         // 4: A = dst port
		{Code: unix.BPF_JMP | unix.BPF_JA, K: 2},                                      // 5: to 8
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x60, Jt: 0, Jf: 3},       // 6: IPv6? else drop
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 42},                        // 7: A = dst port
		{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: uint32(lo), Jt: 0, Jf: 1}, // 8: >= lo? else drop
		{Code: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, K: uint32(hi), Jt: 0, Jf: 1}, // 9: > hi? drop, else accept
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},                                       // 10: drop
		{Code: unix.BPF_RET | unix.BPF_K, K: 0x40000},                                 // 11: accept
	}
	if err := unix.SetsockoptSockFprog(c.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		t.Fatalf("SO_ATTACH_FILTER: %v", err)
	}
	buf := make([]byte, 2048)
	for { // what the single-port filter let in
		if _, _, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	return c
}

// knocksFrom keeps the client's knocks to dst: SYNs without ACK and UDP
// datagrams from dst's own address (the loopback), in order.
func knocksFrom(got []wirePacket, dst netip.Addr) []Knock {
	var ks []Knock
	for _, p := range got {
		if p.src.Addr() != dst || p.dst.Addr() != dst {
			continue
		}
		if p.proto == packet.TCP && p.flags != packet.SYN {
			continue
		}
		ks = append(ks, Knock{Proto: p.proto, Port: p.dst.Port()})
	}
	return ks
}

// TestWireTOTP: sesame --totp-secret S sends exactly the sequence of the
// current step, with the default parameters, as SYNs.
func TestWireTOTP(t *testing.T) {
	secret := mustSecret(t)
	src := defaultTOTP(secret)
	dst := netip.MustParseAddr("127.0.0.1")
	before := totp.Step(time.Now(), src.Step)
	// The step may change while the test runs: watch the ports of both.
	p0 := totp.Ports(secret, before, src.Lo, src.Hi, src.Length)
	p1 := totp.Ports(secret, before+1, src.Lo, src.Hi, src.Length)
	c := openCapture(t, append(slices.Clone(p0), p1...))
	if err := Run(context.Background(), Options{Hosts: []string{dst.String()}, Sequence: src}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	after := totp.Step(time.Now(), src.Step)
	got := FormatKnocks(knocksFrom(c.collect(t, 300*time.Millisecond), dst))
	want := []string{formatPorts(p0, packet.TCP)}
	if after != before {
		want = append(want, formatPorts(p1, packet.TCP))
	}
	if !slices.Contains(want, got) {
		t.Errorf("knocks on the wire %s, want %s", got, strings.Join(want, " or "))
	}
}

func formatPorts(ports []uint16, proto packet.Proto) string {
	ks := make([]Knock, len(ports))
	for i, p := range ports {
		ks[i] = Knock{Proto: proto, Port: p}
	}
	return FormatKnocks(ks)
}

// TestWireCipher: sesame --cipher-key F --event E sends 16 SYNs in the
// window whose block opens under the key, for event E, sealed about now.
func TestWireCipher(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			key := cipherknock.NewKey()
			dst := netip.MustParseAddr(host)
			c := openRangeCapture(t, 61000, 61255)
			src := &Cipher{Key: key, Event: "work", Proto: packet.TCP, Base: 61000}
			if err := Run(context.Background(), Options{Hosts: []string{host}, Sequence: src}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			ks := knocksFrom(c.collect(t, 300*time.Millisecond), dst)
			ports := make([]uint16, len(ks))
			for i, k := range ks {
				if k.Proto != packet.TCP {
					t.Errorf("knock %d is %v, want tcp", i, k)
				}
				ports[i] = k.Port
			}
			b, ok := cipherknock.BlockFromPorts(ports, 61000)
			if !ok {
				t.Fatalf("knocks on the wire %v: want 16 in 61000-61255", ports)
			}
			p, err := cipherknock.NewCipher(key).Verify(b, cipherknock.EventID("work"), time.Now(), cipherknock.DefaultMaxAge)
			if err != nil {
				t.Fatalf("block %s from the wire: %v (opened: %+v)", b, err, p)
			}
		})
	}
}

// TestWireOneTime: sesame --one-time F sends the first unused line of F,
// then leaves F as knockd's daemon would: that line's first byte is '#'.
func TestWireOneTime(t *testing.T) {
	dst := netip.MustParseAddr("127.0.0.1")
	t1, t2 := closedTCPPort(t, dst), closedTCPPort(t, dst)
	u1 := freeUDPPort(t, dst)
	used := fmt.Sprintf("%d,%d:udp,%d", t1, u1, t2)
	content := fmt.Sprintf("# one-time sequences\n#%d,%d\n\n %s\n %d,%d\n", t2, t1, used, t1, t2)
	path := writeFile(t, content)
	o, err := OpenOneTime(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	c := openCapture(t, []uint16{t1, t2, u1})
	if err := Run(context.Background(), Options{Hosts: []string{dst.String()}, Sequence: o}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := FormatKnocks(knocksFrom(c.collect(t, 300*time.Millisecond), dst))
	if want := fmt.Sprintf("%d:tcp,%d:udp,%d:tcp", t1, u1, t2); got != want {
		t.Errorf("knocks on the wire %s, want %s (line 4)", got, want)
	}
	b := []byte(content)
	b[strings.Index(content, " "+used)] = '#'
	if got := readFile(t, path); got != string(b) {
		t.Errorf("file after the knock (-want +got):\n-%q\n+%q", b, got)
	}
}
