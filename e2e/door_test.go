//go:build linux

package e2e

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// openClose is the basic proof: the door is shut, the knock opens it for the
// knocker, and it shuts again after Cmd_Timeout.
func openClose(t *testing.T, s *scene, k *knocker, sent string, v6 bool) {
	c := s.lab.Client(0)
	src, dst := c.V4, s.dst(false)
	if v6 {
		src, dst = c.V6, s.dst(true)
	}
	if err := s.closed(c, netip.Addr{}, dst); err != nil {
		t.Fatalf("before the knock: %v", err)
	}
	knocked := time.Now()
	if err := k.knock(t, c, netip.Addr{}, dst.Addr(), mustKnocks(t, sent)); err != nil {
		t.Fatalf("%s failed: %v", k.name, err)
	}
	if err := s.waitOpened([]netip.Addr{src}, 3*time.Second); err != nil {
		s.judge.fail("%v", err)
		return
	}
	if err := s.open(c, netip.Addr{}, dst, 2*time.Second); err != nil {
		s.judge.fail("%v", err)
		return
	}
	openedIn := time.Since(knocked)
	shut, err := s.waitClosed(c, netip.Addr{}, dst, time.Duration(s.ev.CmdTimeout+3)*time.Second)
	if err != nil {
		s.judge.fail("%v", err)
		return
	}
	lasted := shut.Sub(knocked)
	t.Logf("%s → %s: connect went through %v after the knock, failed again %v after it (Cmd_Timeout %ds)",
		k.name, s.d.name, openedIn.Round(time.Millisecond), lasted.Round(time.Millisecond), s.ev.CmdTimeout)
	if min := time.Duration(s.ev.CmdTimeout)*time.Second - time.Second; lasted < min {
		s.judge.fail("door closed %v after the knock, before Cmd_Timeout (%ds)", lasted, s.ev.CmdTimeout)
	}
}

// TestOpenClose: each client opens each daemon's door with TCP, UDP and
// mixed sequences; the door closes after Cmd_Timeout.
func TestOpenClose(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		knocker  *knocker
		sequence string // the configured Sequence; the client sends the same
	}{
		{"sesame-tcp", sesameKnocker, "7000,8000,9000"},
		{"sesame-mixed", sesameKnocker, "7000,8000:udp,9000"},
		{"knock-tcp", knockKnocker, "7000,8000,9000"},
		{"knock-udp", knockKnocker, "7000:udp,8000:udp,9000:udp"},
		{"knock-mixed", knockKnocker, "7000,8000:udp,9000"},
		{"netlab-tcp", netlabKnocker, "7000,8000,9000"},
	}
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := newScene(t, d, netlab.Config{}, tc.sequence, nil)
					openClose(t, s, tc.knocker, tc.sequence, false)
				})
			}
		})
	}
}

// TestKnockTwice: a client that sends every knock twice (retransmits,
// nc -z) still gets in (SPEC §3: a repeat of the element just matched is
// ignored).
func TestKnockTwice(t *testing.T) {
	t.Parallel()
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, k := range []*knocker{sesameKnocker, knockKnocker} {
				t.Run(k.name, func(t *testing.T) {
					t.Parallel()
					s := newScene(t, d, netlab.Config{}, "7000,8000,9000", nil)
					openClose(t, s, k, "7000,7000,8000,8000,9000,9000", false)
				})
			}
		})
	}
}

// TestIPv6: an IPv6 knock opens the IPv6 door (Start_Command_6) and only it.
func TestIPv6(t *testing.T) {
	t.Parallel()
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, k := range []*knocker{sesameKnocker, knockKnocker} {
				t.Run(k.name, func(t *testing.T) {
					t.Parallel()
					s := newScene(t, d, netlab.Config{}, "7000,8000,9000", func(ev *event) { ev.CmdTimeout = 4 })
					c := s.lab.Client(0)
					during := make(chan []netip.Addr, 1)
					go func() { // the sets while the door is open
						time.Sleep(2 * time.Second)
						a, _ := s.door.Allowed(context.Background())
						during <- a
					}()
					openClose(t, s, k, "7000,8000,9000", true)
					allowed := <-during
					if !slices.Equal(allowed, []netip.Addr{c.V6}) {
						s.judge.fail("allow sets 2 s after the knock = %v, want only %s (Start_Command_6)", allowed, c.V6)
					}
				})
			}
		})
	}
}

// TestScanOpensNothing: a sequential SYN scan of every TCP port from one
// address walks through 7000, 8000 and 9000 in order, and must not open the
// door (SPEC §3, scan guard).
func TestScanOpensNothing(t *testing.T) {
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			s := newScene(t, d, netlab.Config{}, "7000,8000,9000", nil)
			c := s.lab.Client(0)
			start := time.Now()
			n, err := c.ScanTCP(netip.Addr{}, s.lab.Server.V4, 1, 65535, start.Add(40*time.Second))
			if err != nil {
				t.Fatalf("scan: %v after %d ports", err, n)
			}
			t.Logf("scanned %d ports in %v", n, time.Since(start).Round(time.Millisecond))
			time.Sleep(500 * time.Millisecond) // let the daemon see the last packets
			if err := s.closed(c, netip.Addr{}, s.dst(false)); err != nil {
				s.judge.fail("after the scan: %v", err)
			}
			if got := s.proc.Lines("OPEN SESAME"); len(got) > 0 {
				s.judge.fail("the scan opened the door: %s", strings.Join(got, "\n"))
			}
		})
	}
}

const manySources = 200

// TestManySources: 200 addresses knock at once and every one of them gets
// in, each with its own connection from its own address.
func TestManySources(t *testing.T) {
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			for _, k := range []*knocker{sesameKnocker, netlabKnocker} {
				t.Run(k.name, func(t *testing.T) {
					// Long Cmd_Timeout: no door may close while the others are checked.
					s := newScene(t, d, netlab.Config{ExtraClientAddrs: manySources}, "7000,8000,9000",
						func(ev *event) { ev.CmdTimeout = 30 })
					c := s.lab.Client(0)
					srcs := c.Extra4
					dst := s.dst(false)
					start := time.Now()
					if k == netlabKnocker {
						if err := c.KnockFrom(srcs, dst.Addr(), mustKnocks(t, "7000,8000,9000"), 0); err != nil {
							t.Fatal(err)
						}
					} else {
						bin(t, "sesame")
						errs := make(chan error, len(srcs))
						for _, src := range srcs {
							go func() { errs <- k.knock(t, c, src, dst.Addr(), mustKnocks(t, "7000,8000,9000")) }()
						}
						for range srcs {
							if err := <-errs; err != nil {
								t.Errorf("%s: %v", k.name, err)
							}
						}
					}
					t.Logf("%d sources knocked in %v", len(srcs), time.Since(start).Round(time.Millisecond))
					if err := s.waitOpened(srcs, 10*time.Second); err != nil {
						s.judge.fail("%v", err)
						return
					}
					t.Logf("%d OPEN SESAME lines %v after the first knock", len(s.opened()), time.Since(start).Round(time.Millisecond))
					var mu sync.Mutex
					var shut []netip.Addr
					var wg sync.WaitGroup
					sem := make(chan struct{}, 50)
					for _, src := range srcs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							sem <- struct{}{}
							defer func() { <-sem }()
							if err := s.open(c, src, dst, 3*time.Second); err != nil {
								mu.Lock()
								shut = append(shut, src)
								mu.Unlock()
							}
						}()
					}
					wg.Wait()
					if len(shut) > 0 {
						slices.SortFunc(shut, netip.Addr.Compare)
						s.judge.fail("%d of %d sources could not connect after knocking: %v", len(shut), len(srcs), shut)
					}
					allowed, err := s.door.Allowed(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(allowed, srcs) {
						s.judge.fail("allow sets hold %d addresses, want exactly the %d knockers", len(allowed), len(srcs))
					}
					t.Logf("all done %v after the first knock", time.Since(start).Round(time.Millisecond))
				})
			}
		})
	}
}

// TestStopOnSIGTERM: a daemon stopped while a door is open runs the pending
// stop command before it exits (SPEC §6).
func TestStopOnSIGTERM(t *testing.T) {
	t.Parallel()
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(t.TempDir(), "stopped")
			s := newScene(t, d, netlab.Config{}, "7000,8000,9000", func(ev *event) {
				ev.CmdTimeout = 30 // only the shutdown can close it within the test
				ev.Stop = ev.Stop + " ; echo %IP% >> " + marker
				ev.Stop6 = ev.Stop6 + " ; echo %IP% >> " + marker
			})
			c := s.lab.Client(0)
			dst := s.dst(false)
			if err := netlabKnocker.knock(t, c, netip.Addr{}, dst.Addr(), mustKnocks(t, "7000,8000,9000")); err != nil {
				t.Fatal(err)
			}
			if err := s.waitOpened([]netip.Addr{c.V4}, 3*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := s.open(c, netip.Addr{}, dst, 2*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := s.proc.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			err := s.proc.Wait(5 * time.Second)
			if errors.Is(err, netlab.ErrTimeout) {
				s.judge.fail("%s did not exit within 5 s of SIGTERM (Cmd_Timeout %ds)", d.name, s.ev.CmdTimeout)
				return
			}
			t.Logf("%s exited %v after SIGTERM: %v", d.name, time.Since(signalled).Round(time.Millisecond), err)
			b, err := os.ReadFile(marker)
			if err != nil || strings.TrimSpace(string(b)) != c.V4.String() {
				s.judge.fail("stop command had not run when %s exited (marker %q, %v)", d.name, b, err)
			}
			if err := s.closed(c, netip.Addr{}, dst); err != nil {
				s.judge.fail("after %s exited: %v", d.name, err)
			}
		})
	}
}

// TestTCPFlags: hping3 sends crafted knocks. With TCPFlags = syn, the same
// sequence sent as bare ACKs opens nothing; sent as SYNs it opens.
func TestTCPFlags(t *testing.T) {
	t.Parallel()
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			hping3 := bin(t, "hping3")
			s := newScene(t, d, netlab.Config{}, "7000,8000,9000", nil)
			c := s.lab.Client(0)
			dst := s.dst(false)
			send := func(flag string) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				for _, port := range []string{"7000", "8000", "9000"} {
					if out, err := c.Run(ctx, hping3, "-q", "-c", "1", flag, "-p", port, dst.Addr().String()); err != nil {
						t.Fatalf("hping3 %s -p %s: %v\n%s", flag, port, err, out)
					}
				}
			}
			send("-A")
			time.Sleep(300 * time.Millisecond)
			if got := s.proc.Lines("OPEN SESAME"); len(got) > 0 {
				s.judge.fail("ACK knocks opened a TCPFlags=syn door: %s", strings.Join(got, "\n"))
			}
			if err := s.closed(c, netip.Addr{}, dst); err != nil {
				s.judge.fail("after ACK knocks: %v", err)
			}
			send("-S")
			if err := s.waitOpened([]netip.Addr{c.V4}, 3*time.Second); err != nil {
				s.judge.fail("SYN knocks from hping3: %v", err)
				return
			}
			if err := s.open(c, netip.Addr{}, dst, 2*time.Second); err != nil {
				s.judge.fail("SYN knocks from hping3: %v", err)
			}
		})
	}
}
