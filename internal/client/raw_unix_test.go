//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// TestRawPermission plays an unprivileged user (the raw socket call fails
// with EPERM, or EACCES as some systems say): Run fails with a
// RawPermissionError that says what is needed, before sending anything,
// not even the UDP knock that comes first in the sequence.
func TestRawPermission(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EPERM, unix.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			var asked [][3]int
			orig := rawSocket
			rawSocket = func(domain, typ, proto int) (int, error) {
				asked = append(asked, [3]int{domain, typ, proto})
				return -1, errno
			}
			t.Cleanup(func() { rawSocket = orig })

			c := listenUDP(t, "127.0.0.1")
			port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{udp(port), raw(110, packet.URG|packet.PSH)}}
			err := Run(context.Background(), o)
			var pe *RawPermissionError
			if !errors.As(err, &pe) {
				t.Fatalf("Run = %v, want a RawPermissionError", err)
			}
			if !errors.Is(err, errno) || !errors.Is(err, os.ErrPermission) {
				t.Errorf("%v does not wrap %v and os.ErrPermission", err, errno)
			}
			need := "root"
			if runtime.GOOS == "linux" {
				need = "root or CAP_NET_RAW"
			}
			if want := "raw TCP flag knocks need " + need + ": socket: " + errno.Error(); err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if len(asked) != 1 || asked[0] != [3]int{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP} {
				t.Errorf("socket calls %v, want one (AF_INET, SOCK_RAW, IPPROTO_TCP)", asked)
			}
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, _, err := c.ReadFrom(make([]byte, 16)); err == nil {
				t.Errorf("the UDP knock before the flag knock was sent (%d bytes): want nothing sent", n)
			}
		})
	}
}

// TestRawProbeFamilies: the check before sending opens one raw socket per
// family knocked, IPv6 with IPV6_CHECKSUM; and other socket errors are not
// taken for a missing privilege.
func TestRawProbeFamilies(t *testing.T) {
	var domains []int
	orig := rawSocket
	rawSocket = func(domain, typ, proto int) (int, error) {
		domains = append(domains, domain)
		return -1, unix.EAFNOSUPPORT
	}
	t.Cleanup(func() { rawSocket = orig })
	err := checkRaw([]netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::2")})
	var pe *RawPermissionError
	if err == nil || errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "socket: ") {
		t.Errorf("checkRaw = %v, want the socket error as is", err)
	}
	if len(domains) != 1 || domains[0] != unix.AF_INET6 {
		t.Errorf("socket domains %v, want [AF_INET6] (stopping at the first error)", domains)
	}
}
