package daemon

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
)

// synFrame builds an Ethernet/IPv4/TCP SYN frame (checksums left zero, as
// with offload: nothing on the road validates them).
func synFrame(src netip.Addr, port uint16) []byte {
	f := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8], ip[9] = 64, 6
	s := src.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], []byte{198, 18, 0, 1})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], port)
	tcp[12] = 5 << 4
	tcp[13] = byte(packet.SYN)
	return f
}

// BenchmarkDecodeMatch is the per-packet road after the ring: decode one
// captured frame and feed the hit through the engine (matcher, timer,
// outcome handling; logging at its default level).
func BenchmarkDecodeMatch(b *testing.B) {
	for _, events := range []int{1, 100} {
		for _, sources := range []int{1, 1_000_000} {
			b.Run(fmt.Sprintf("events=%d/sources=%d", events, sources), func(b *testing.B) {
				evs := make([]config.Event, events)
				for i := range evs {
					base := uint16(10000 + 3*i)
					evs[i] = config.Event{Name: fmt.Sprint("e", i), Sequence: seqOf(base, base+1, base+2), SeqTimeout: 25 * time.Second}
				}
				e := mustEngine(b, engineConfig{Events: evs, Door: &recordingDoor{}, Clock: clock.Real{}, ScanGuard: true,
					Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
				e.setLocal([]netip.Addr{netip.MustParseAddr("198.18.0.1")})
				// Frames walk the first event's sequence up to its last step
				// and restart it: every hit is a match, none opens a door or
				// writes a log line at the default level.
				ports := []uint16{10000, 10001, 10000}
				frames := make([][]byte, 3*1024)
				for i := range frames {
					s := (i / 3) % sources
					frames[i] = synFrame(netip.AddrFrom4([4]byte{10, byte(s >> 16), byte(s >> 8), byte(s)}), ports[i%3])
				}
				var h packet.Hit
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					f := frames[i%len(frames)]
					if sources > len(frames)/3 {
						s := (i / 3) % sources
						f[14+12], f[14+13], f[14+14], f[14+15] = 10, byte(s>>16), byte(s>>8), byte(s)
					}
					if err := packet.Decode(packet.LinkEthernet, f, &h); err != nil {
						b.Fatal(err)
					}
					e.Hit(&h)
				}
			})
		}
	}
}

// BenchmarkDecodeMatchLoggedFailure is a scan-guard failure: the hit ends
// an attempt and writes one log line (to io.Discard), the cost a scanner
// imposes per attempt it starts.
func BenchmarkDecodeMatchLoggedFailure(b *testing.B) {
	evs := []config.Event{{Name: "e", Sequence: seqOf(10000, 10001, 10002), SeqTimeout: 25 * time.Second}}
	e := mustEngine(b, engineConfig{Events: evs, Door: &recordingDoor{}, Clock: clock.Real{}, ScanGuard: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	src := netip.MustParseAddr("10.0.0.1")
	frames := [][]byte{synFrame(src, 10000), synFrame(src, 22)}
	var h packet.Hit
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := packet.Decode(packet.LinkEthernet, frames[i%2], &h); err != nil {
			b.Fatal(err)
		}
		e.Hit(&h)
	}
}

// BenchmarkReconfigure is the part of a reload done under the engine's
// lock, with the attempt table full (65,536 attempts in progress, every
// one carried over): how long hits wait while a reload takes over.
func BenchmarkReconfigure(b *testing.B) {
	evs := []config.Event{{Name: "ssh", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 25 * time.Second}}
	cfg := engineConfig{Events: evs, Door: &recordingDoor{}, Clock: clock.Real{}, ScanGuard: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := mustEngine(b, cfg)
	local := []netip.Addr{netip.MustParseAddr("198.18.0.1")}
	e.setLocal(local)
	for i := 0; i < config.DefaultMaxAttempts; i++ {
		h := knockHit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), 7000)
		e.Hit(h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		carried, _ := e.reconfigure(cfg, true, local)
		if carried != config.DefaultMaxAttempts {
			b.Fatalf("carried %d, want %d", carried, config.DefaultMaxAttempts)
		}
	}
}
