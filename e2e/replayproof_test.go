//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// Replay-proof knocks end to end (SPEC §4): each kind opens the door for
// the real client, and an eavesdropper who recorded the client's knock
// packets on the wire and sends them again, byte for byte from the same
// address, opens nothing: not while the knock is still fresh, and not
// after the daemon restarts.

const replayDoorTimeout = 2 // s: the door closes before the replay

// replayCase is one kind of replay-proof knock.
type replayCase struct {
	name string
	// setup writes the kind's files into dir and returns the event's
	// directives (after [name]) and the client's arguments after the
	// sesame program name.
	setup func(t *testing.T, lab *netlab.Lab, dir string) (directives string, client []string)
	// replayLine is what the daemon logs for a rejected replay ("" when a
	// replay simply matches nothing, as with one-time sequences).
	replayLine string
}

func TestReplayProofKnocks(t *testing.T) {
	for _, rc := range []replayCase{
		{name: "one-time", setup: setupOneTime},
		{name: "totp", setup: setupTOTP, replayLine: `msg="failed: replayed knock"`},
		{name: "cipher", setup: setupCipher, replayLine: `msg="failed: replayed knock"`},
	} {
		t.Run(rc.name, func(t *testing.T) { testReplayProof(t, rc) })
	}
}

func testReplayProof(t *testing.T, rc replayCase) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	c := lab.Client(0)
	to := dst(lab.Server.V4)
	dir := t.TempDir()
	directives, args := rc.setup(t, lab, dir)
	conf := fmt.Sprintf("[options]\n\tStateDir = %s\n[door]\n%s\tSeq_Timeout = 5\n\tOpen = tcp:%d\n\tOpen_Timeout = %d\n",
		filepath.Join(dir, "state"), directives, nativePort, replayDoorTimeout)
	d := startSesamed(t, lab, conf)
	mustFiltered(t, c, c.V4, to, "before the knock")

	// The client knocks while the eavesdropper records.
	tap, err := c.Tap(lab.Server.V4)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	knockWith(t, c, args...)
	if _, err := d.WaitLog(`msg="OPEN SESAME"`, 5*time.Second); err != nil {
		t.Fatalf("the knock did not open: %v\n%s", err, d.Log())
	}
	time.Sleep(100 * time.Millisecond) // the last frames reach the tap
	frames := tap.Stop()
	if len(frames) == 0 {
		t.Fatal("the tap recorded no knock")
	}
	t.Logf("recorded %d knock frames to ports %v", len(frames), netlab.Ports(frames))
	mustConnect(t, c, c.V4, to, "after the knock")

	// The door closes; then the recording is replayed.
	time.Sleep((replayDoorTimeout*1000 + 700) * time.Millisecond)
	mustFiltered(t, c, c.V4, to, "after Open_Timeout")
	replayOnce := func(d *netlab.Proc, when string) {
		t.Helper()
		before := len(d.Lines(rc.replayLine))
		if err := tap.Replay(frames, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if rc.replayLine != "" {
			if err := d.WaitLogFunc(func(string) bool { return len(d.Lines(rc.replayLine)) > before }, 5*time.Second); err != nil {
				t.Fatalf("%s: no %s line for the replay: %v\n%s", when, rc.replayLine, err, d.Log())
			}
		} else {
			time.Sleep(500 * time.Millisecond)
		}
		mustFiltered(t, c, c.V4, to, when)
	}
	replayOnce(d, "after a replay")
	if n := len(d.Lines(`msg="OPEN SESAME"`)); n != 1 {
		t.Fatalf("%d opens, want 1:\n%s", n, d.Log())
	}

	// The same after a restart.
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	d2 := startSesamed(t, lab, conf)
	replayOnce(d2, "after a replay to the restarted daemon")
	if n := len(d2.Lines(`msg="OPEN SESAME"`)); n != 0 {
		t.Fatalf("the restarted daemon opened for a replay:\n%s", d2.Log())
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The one-time list: comment lines, lines with the recommended leading
// blank, and one without it (knockd then overwrites its first digit).
const oneTimeList = "# sequences for [door]\n 7101,7102:udp,7103\n7201,7202,7203\n\t7301,7302,7303\n"

func setupOneTime(t *testing.T, lab *netlab.Lab, dir string) (string, []string) {
	daemonList, clientList := filepath.Join(dir, "door.otp"), filepath.Join(dir, "client.otp")
	writeFile(t, daemonList, oneTimeList)
	writeFile(t, clientList, oneTimeList)
	t.Cleanup(func() {
		// Both sides mark the used line the same way.
		want := strings.Replace(oneTimeList, " 7101", "#7101", 1)
		for _, p := range []string{daemonList, clientList} {
			if b, _ := os.ReadFile(p); string(b) != want {
				t.Errorf("%s after one knock:\n%q\nwant\n%q", filepath.Base(p), b, want)
			}
		}
	})
	return fmt.Sprintf("\tOne_Time_Sequences = %s\n", daemonList),
		[]string{"--one-time", clientList, lab.Server.V4.String()}
}

// setupTOTP enrols a client with sesamed --enroll and knocks with the
// profile it printed: "sesame door".
func setupTOTP(t *testing.T, lab *netlab.Lab, dir string) (string, []string) {
	secrets := filepath.Join(dir, "door.totp")
	directives := fmt.Sprintf("\tTOTP_Secret_File = %s\n\tTOTP_Ports = 30000-39999\n\tTOTP_Skew = 1\n", secrets)
	conf := filepath.Join(dir, "enroll.conf")
	writeFile(t, conf, "[door]\n"+directives+"\tStart_Command = true\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lab.Server.Run(ctx, bin(t, "sesamed"), "-c", conf, "--enroll", "alice", "--event", "door", "--host", lab.Server.V4.String(), "--no-qr")
	if err != nil {
		t.Fatalf("sesamed --enroll: %v\n%s", err, out)
	}
	profiles := filepath.Join(dir, "profiles.conf")
	writeFile(t, profiles, profileBlock(t, string(out)))
	return directives, []string{"--profiles", profiles, "door"}
}

// profileBlock cuts the [section] the enrolment printed out of its output.
func profileBlock(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "["):
			in = true
		case in && !strings.HasPrefix(l, "\t"):
			return b.String()
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	if !in {
		t.Fatalf("no profile in the enrolment's output:\n%s", out)
	}
	return b.String()
}

// setupCipher shares a passphrase key file between daemon and client.
func setupCipher(t *testing.T, lab *netlab.Lab, dir string) (string, []string) {
	key := filepath.Join(dir, "door.key")
	writeFile(t, key, "# shared by sesamed and its clients\npassphrase = correct horse battery staple\n")
	return fmt.Sprintf("\tCipher_Key_File = %s\n\tCipher_Ports = 62000:udp\n", key),
		[]string{"--cipher-key", key, "--event", "door", "--cipher-ports", "62000:udp", lab.Server.V4.String()}
}

// TestTamperedCipherKnock: one knock of a recorded block moved to another
// port of the window never opens (the attempt waits for a block that
// decrypts, and times out), a block that is no longer fresh is refused,
// and a fresh block still opens afterwards, even right after a knock that
// lost a packet.
func TestTamperedCipherKnock(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	c := lab.Client(0)
	to := dst(lab.Server.V4)
	dir := t.TempDir()
	key := filepath.Join(dir, "door.key")
	writeFile(t, key, "key = "+strings.Repeat("A", 43)+"=\n")
	conf := fmt.Sprintf("[options]\n\tStateDir = %s\n[door]\n\tCipher_Key_File = %s\n\tCipher_Max_Age = 2\n\tSeq_Timeout = 2\n\tOpen = tcp:%d\n\tOpen_Timeout = 30\n",
		filepath.Join(dir, "state"), key, nativePort)
	d := startSesamed(t, lab, conf)
	args := []string{"--cipher-key", key, "--event", "door", lab.Server.V4.String()}

	// Record a real knock without letting the daemon see it: the daemon
	// only listens once the recording is made, so stop it first.
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.Wait(10 * time.Second)
	tap, err := c.Tap(lab.Server.V4)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	knockWith(t, c, args...)
	time.Sleep(100 * time.Millisecond)
	frames := tap.Stop()
	if len(frames) != 16 {
		t.Fatalf("recorded %d frames, want the 16 knocks of one block", len(frames))
	}
	d = startSesamed(t, lab, conf)

	tampered := make([][]byte, len(frames))
	for i, f := range frames {
		tampered[i] = append([]byte(nil), f...)
	}
	ports := netlab.Ports(frames)
	moved := ports[5]
	for moved == ports[5] || moved == ports[4] || moved == ports[6] {
		moved = 61000 + (moved-61000+1)%256
	}
	retarget(t, tampered[5], moved)
	if err := tap.Replay(tampered, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitLog(`msg=timeout src=`+c.V4.String()+` event=door stage=16/16`, 5*time.Second); err != nil {
		t.Fatalf("tampered block: %v\n%s", err, d.Log())
	}
	mustFiltered(t, c, c.V4, to, "after a tampered block")

	time.Sleep(3 * time.Second) // the recorded block is now older than Cipher_Max_Age
	if err := tap.Replay(frames, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitLog(`msg="failed: stale cipher knock"`, 5*time.Second); err != nil {
		t.Fatalf("stale block: %v\n%s", err, d.Log())
	}
	mustFiltered(t, c, c.V4, to, "after a stale block")

	// A knock that lost its last packet, then a fresh one.
	if err := tap.Replay(frames[:15], time.Millisecond); err != nil {
		t.Fatal(err)
	}
	knockWith(t, c, args...)
	if _, err := d.WaitLog(`msg="OPEN SESAME"`, 5*time.Second); err != nil {
		t.Fatalf("a fresh block did not open: %v\n%s", err, d.Log())
	}
	mustConnect(t, c, c.V4, to, "after a fresh block")
}

// retarget sends a recorded IPv4 TCP SYN to another port, fixing the TCP
// checksum so the segment is a well-formed knock, only to the wrong port.
func retarget(t *testing.T, f []byte, port uint16) {
	t.Helper()
	ip := f[14:]
	if ip[0]>>4 != 4 || ip[9] != syscall.IPPROTO_TCP {
		t.Fatalf("not an IPv4 TCP frame")
	}
	tcp := ip[int(ip[0]&0x0f)*4:]
	tcp[2], tcp[3] = byte(port>>8), byte(port)
	tcp[16], tcp[17] = 0, 0
	sum := checksumTCP4(netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), tcp)
	tcp[16], tcp[17] = byte(sum>>8), byte(sum)
}

func checksumTCP4(src, dst netip.Addr, seg []byte) uint16 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	s4, d4 := src.As4(), dst.As4()
	add(s4[:])
	add(d4[:])
	s += syscall.IPPROTO_TCP + uint32(len(seg))
	add(seg)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TestOneTimeMarksLikeKnockd: the same one-time list, used twice by the
// sesame client against knockd and against sesamed, ends up byte for byte
// the same in all four files (both daemons' and both clients').
func TestOneTimeMarksLikeKnockd(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	c := lab.Client(0)
	dir := t.TempDir()
	files := map[string]string{}
	for _, name := range []string{"knockd", "sesamed"} {
		list, client := filepath.Join(dir, name+".otp"), filepath.Join(dir, name+"-client.otp")
		writeFile(t, list, oneTimeList)
		writeFile(t, client, oneTimeList)
		conf := filepath.Join(dir, name+".conf")
		writeFile(t, conf, fmt.Sprintf("[door]\n\tOne_Time_Sequences = %s\n\tSeq_Timeout = 5\n\tStart_Command = true\n", list))
		ready, open := "msg=ready", `msg="OPEN SESAME"`
		if name == "knockd" {
			ready, open = "listening on", "OPEN SESAME"
		}
		p := lab.Server.Start(t, logPath(t, dir, name), bin(t, name), "-c", conf, "-i", lab.Server.IfName, "-v")
		if _, err := p.WaitLog(ready, 10*time.Second); err != nil {
			t.Fatalf("%s did not start: %v", name, err)
		}
		for i := 1; i <= 2; i++ {
			knockWith(t, c, "-d", "20", "--one-time", client, lab.Server.V4.String())
			if err := p.WaitLogFunc(func(string) bool { return len(p.Lines(open)) >= i }, 5*time.Second); err != nil {
				t.Fatalf("%s: knock %d did not open: %v\n%s", name, i, err, p.Log())
			}
		}
		p.Signal(syscall.SIGTERM)
		p.Wait(10 * time.Second)
		for _, f := range []string{list, client} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(f)] = string(b)
		}
	}
	want := files["knockd.otp"]
	if !strings.Contains(want, "#7101") || !strings.Contains(want, "#201,7202") {
		t.Fatalf("knockd did not mark the two lines used:\n%q", want)
	}
	for name, got := range files {
		if got != want {
			t.Errorf("%s:\n%q\nwant knockd's\n%q", name, got, want)
		}
	}
}
