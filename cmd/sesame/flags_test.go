package main

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sesame-knock/sesame/internal/client"
	"github.com/sesame-knock/sesame/internal/packet"
)

// TestRawPermissionHint: a raw socket refused for want of privilege gives
// one error line and the way to the privilege.
func TestRawPermissionHint(t *testing.T) {
	t.Parallel()
	perm := &client.RawPermissionError{Err: os.NewSyscallError("socket", syscall.EPERM)}
	for _, err := range []error{perm, &client.KnockError{Knock: client.Knock{Proto: packet.TCP, Port: 110, Raw: true}, Addr: netip.MustParseAddr("192.0.2.1"), Err: perm}} {
		got := hint(err)
		if got != rawHint(runtime.GOOS) {
			t.Errorf("hint(%v) = %q, want %q", err, got, rawHint(runtime.GOOS))
		}
	}
	if h := rawHint("linux"); !strings.Contains(h, "sudo setcap cap_net_raw+ep $(command -v sesame)") {
		t.Errorf("Linux hint %q does not give the setcap command", h)
	}
	if h := rawHint("darwin"); strings.Contains(h, "setcap") || !strings.Contains(h, "root") {
		t.Errorf("macOS hint %q: want root, no setcap", h)
	}
	// A plain EPERM elsewhere (a firewall refusing a sendto) is not about
	// raw sockets.
	if h := hint(os.NewSyscallError("sendto", syscall.EPERM)); h != "" {
		t.Errorf("hint for a sendto EPERM = %q, want none", h)
	}
	var printed strings.Builder
	printError(&printed, perm.Error(), hint(perm))
	if n := strings.Count(printed.String(), "sesame: error:"); n != 1 {
		t.Errorf("%d error lines, want 1:\n%s", n, printed.String())
	}
}

// TestFlagKnocksCLI runs the seed's flag-knocking sequence with -v. As
// root (or with CAP_NET_RAW) it is sent; without, nothing is sent, and the
// error and the hint say why.
func TestFlagKnocksCLI(t *testing.T) {
	t.Parallel()
	if !client.RawFlagKnocks {
		r := sesame(t, "127.0.0.1", "tcp:110:up")
		r.check(t, 2, "", fmt.Sprintf("sesame: error: tcp:110:up: raw TCP flag knocks are not supported on %s\n"+
			"sesame: hint: knock from Linux, macOS or a BSD, or use plain SYN knocks (tcp:110) if the server accepts them\n", runtime.GOOS))
		return
	}
	// A closed port of the test's: a UDP socket's number is as good as
	// any for TCP knocks that nothing answers but the kernel's RST.
	c, port := udpPort(t, "127.0.0.1")
	defer c.Close()
	p := strconv.Itoa(int(port))
	args := strings.Fields(strings.ReplaceAll("-v -d 1 127.0.0.1 tcp:110:x tcp:110:up tcp:110:up tcp:110:n tcp:110:i", "110", p))
	r := sesame(t, args...)
	if os.Geteuid() != 0 {
		if r.code == 0 {
			t.Skip("not root, but allowed raw sockets (CAP_NET_RAW)")
		}
		need := "root"
		if runtime.GOOS == "linux" {
			need = "root or CAP_NET_RAW"
		}
		r.check(t, 1, "", "sesame: error: raw TCP flag knocks need "+need+": socket: operation not permitted\n"+
			"sesame: hint: "+rawHint(runtime.GOOS)+"\n")
		return
	}
	want := strings.ReplaceAll("hitting tcp 127.0.0.1:110 (flags UAPRSF)\nhitting tcp 127.0.0.1:110 (flags UP)\n"+
		"hitting tcp 127.0.0.1:110 (flags UP)\nhitting tcp 127.0.0.1:110 (flags none)\nhitting tcp 127.0.0.1:110\n", "110", p)
	r.check(t, 0, want, "")
}

// TestFlagKnocksFromProfile: a profile's Sequence in tportknockd's frame
// form sends the same raw flag knocks as the command line.
func TestFlagKnocksFromProfile(t *testing.T) {
	t.Parallel()
	if !client.RawFlagKnocks || os.Geteuid() != 0 {
		t.Skip("raw flag knocks need Linux, macOS or a BSD, as root (TestFlagKnocksCLI covers the rest)")
	}
	f := newFixture(t)
	c, port := udpPort(t, "127.0.0.1")
	defer c.Close()
	p := strconv.Itoa(int(port))
	conf := f.write("p.conf", "[flags]\nHost = 127.0.0.1\nSequence = tcp:"+p+":x tcp:"+p+":up, udp:"+p+" tcp:"+p+":n tcp:"+p+":i\n", 0o644)
	r := sesameWith(t, []string{"SESAME_PROFILES=" + conf}, "", "-v", "-d", "1", "flags")
	want := strings.ReplaceAll("profile [flags] from "+conf+":1\nhitting tcp 127.0.0.1:110 (flags UAPRSF)\nhitting tcp 127.0.0.1:110 (flags UP)\n"+
		"hitting udp 127.0.0.1:110\nhitting tcp 127.0.0.1:110 (flags none)\nhitting tcp 127.0.0.1:110\n", "110", p)
	r.check(t, 0, want, "")
}
