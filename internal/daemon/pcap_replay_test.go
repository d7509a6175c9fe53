package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sesame-knock/sesame/internal/config"
)

// frame is one packet of a capture file written by a test.
type frame struct {
	at      time.Duration // after the first
	src     string
	proto   string // "tcp" (a SYN) or "udp"
	port    uint16
	payload string
}

// writePcap writes frames as an Ethernet pcap file addressed to 198.18.0.1.
func writePcap(t *testing.T, path string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(256, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	slices.SortStableFunc(frames, func(a, b frame) int { return int(a.at - b.at) })
	for _, fr := range frames {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(fr.src), DstIP: net.ParseIP("198.18.0.1")}
		var l4 gopacket.SerializableLayer
		switch fr.proto {
		case "tcp":
			ip.Protocol = layers.IPProtocolTCP
			tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(fr.port), SYN: true, Window: 64240}
			tcp.SetNetworkLayerForChecksum(ip)
			l4 = tcp
		default:
			ip.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(fr.port)}
			udp.SetNetworkLayerForChecksum(ip)
			l4 = udp
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(fr.payload)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(fr.at), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayCaptureFile runs the whole daemon, unprivileged, on capture
// files (Capture = pcap:FILE): the road from decode to door is the one
// every source takes, and the replay keeps the capture's timing, so a
// knock that was too slow in the report is too slow in the replay.
func TestReplayCaptureFile(t *testing.T) {
	t.Parallel()
	const conf = `[options]
	Capture = pcap:%s
[ssh]
	Sequence      = 7000,8000,9000
	Seq_Timeout   = 1
	Start_Command = echo ssh %%IP%% >> %s
[pkd]
	Sequence      = 16001:udp,16002:udp,16003:udp,16004:udp,16005:udp
	UDP_Payload   = knock\n
	Lockout       = 5
	Start_Command = echo pkd %%IP%% >> %s
`
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	pkd := func(at time.Duration, src, payload string, ports ...uint16) []frame {
		var fs []frame
		for i, p := range ports {
			fs = append(fs, frame{at: at + ms(i), src: src, proto: "udp", port: p, payload: payload})
		}
		return fs
	}
	var frames []frame
	frames = append(frames,
		frame{at: 0, src: "198.18.0.2", proto: "tcp", port: 7000},
		frame{at: ms(10), src: "198.18.0.2", proto: "tcp", port: 8000},
		frame{at: ms(20), src: "198.18.0.2", proto: "tcp", port: 9000}, // opens
		frame{at: ms(30), src: "198.18.0.3", proto: "tcp", port: 7000},
		frame{at: ms(40), src: "198.18.0.3", proto: "tcp", port: 8000},
		frame{at: ms(1200), src: "198.18.0.3", proto: "tcp", port: 9000}, // too late: Seq_Timeout is 1 s
	)
	frames = append(frames, pkd(ms(50), "198.18.0.4", "knock\n", 16001, 16002, 16003, 16004, 16005)...) // opens
	frames = append(frames, pkd(ms(60), "198.18.0.5", "knock\n", 16001, 16002)...)
	frames = append(frames, pkd(ms(70), "198.18.0.5", "nope\n", 16003)...)                              // locks out
	frames = append(frames, pkd(ms(80), "198.18.0.5", "knock\n", 16001, 16002, 16003, 16004, 16005)...) // ignored
	dir := t.TempDir()
	capFile, out := filepath.Join(dir, "report.pcap"), filepath.Join(dir, "opened")
	writePcap(t, capFile, frames)
	cfg, err := config.ParseKnockd("replay.conf", []byte(fmt.Sprintf(conf, capFile, out, out)))
	if err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Stderr: &log, Verbose: true, ControlSocket: NoControlSocket, KeepPrivileges: true})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "capture finished") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the last start command runs
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	if got, want := strings.Join(lines, "\n"), "pkd 198.18.0.4\nssh 198.18.0.2"; got != want {
		t.Errorf("doors opened:\n%s\nwant:\n%s\nlog:\n%s", got, want, log.String())
	}
	for _, want := range []string{
		"capture=[pcap:" + capFile + "]",
		`msg=timeout src=198.18.0.3 event=ssh stage=2/3`,
		`msg="failed: wrong port or payload" src=198.18.0.5 event=pkd stage=2/5 hit=udp:16003 lockout=5s`,
		`msg="capture stats" capture=pcap:` + capFile + ` packets=19 drops=0 undecodable=0`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}
