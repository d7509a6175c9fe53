//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFlagKnocksUnprivileged: run as root, the test also runs sesame as
// nobody, for the real EPERM of the raw socket: exit 1, one error line and
// the hint, nothing sent.
func TestFlagKnocksUnprivileged(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sesame as nobody")
	}
	dir, err := os.MkdirTemp("", "sesame-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sesame")
	data, err := os.ReadFile(sesameBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	c, port := udpPort(t, "127.0.0.1")
	defer c.Close()
	cmd := exec.Command(bin, "127.0.0.1", "udp:"+strconv.Itoa(int(port)), "tcp:110:up")
	cmd.Env = []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "SESAME_STATE_DIR=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Skipf("cannot run sesame as nobody: %v", err)
	}
	result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}.check(t, 1, "",
		"sesame: error: raw TCP flag knocks need root or CAP_NET_RAW: socket: operation not permitted\n"+
			"sesame: hint: "+rawHint("linux")+"\n")
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := c.ReadFrom(make([]byte, 16)); err == nil {
		t.Errorf("the UDP knock before the flag knock was sent (%d bytes): want nothing sent", n)
	}
}
