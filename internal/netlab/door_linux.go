//go:build linux

package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Door is a protected port in a namespace: a real TCP echo listener (IPv4 and
// IPv6) behind an nftables rule that drops new connections to it unless the
// source is in the allow set. The lab plays administrator here, so the rules
// are written with the nft CLI; the knock daemon under test opens the door by
// running StartCommand (nft add element) and closes it with StopCommand.
//
//	table inet lab {
//		set allow4 { type ipv4_addr; }
//		set allow6 { type ipv6_addr; }
//		chain input {
//			type filter hook input priority filter; policy accept;
//			ct state established,related accept
//			tcp dport PORT ip saddr @allow4 accept
//			tcp dport PORT ip6 saddr @allow6 accept
//			tcp dport PORT drop
//		}
//	}
type Door struct {
	Port  uint16
	Table string // "inet lab"
	Set4  string // "allow4"
	Set6  string // "allow6"
	ns    *Netns
}

// Protect installs a door on port in the namespace (at most one per
// namespace: the table is called lab). The listener and the rules go away
// with the test.
func (ns *Netns) Protect(t testing.TB, port uint16) *Door {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		SkipOrFail(t, "netlab doors need nftables' nft: %v", err)
	}
	d := &Door{Port: port, Table: "inet lab", Set4: "allow4", Set6: "allow6", ns: ns}
	rules := fmt.Sprintf(`table inet lab {
	set allow4 { type ipv4_addr; }
	set allow6 { type ipv6_addr; }
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		tcp dport %[1]d ip saddr @allow4 accept
		tcp dport %[1]d ip6 saddr @allow6 accept
		tcp dport %[1]d drop
	}
}
`, port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ns.RunInput(ctx, rules, "nft", "-f", "-"); err != nil {
		t.Fatalf("netlab: failed to install door rules: %v", err)
	}
	l, err := ns.Listen("tcp", fmt.Sprintf("[::]:%d", port)) // dual-stack
	if err != nil {
		t.Fatalf("netlab: failed to listen on port %d in %s: %v", port, ns.Name, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(c, c) // echo
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return d
}

// StartCommand is the knockd.conf Start_Command that opens the IPv4 door
// for %IP%; StopCommand closes it.
func (d *Door) StartCommand() string {
	return fmt.Sprintf("nft add element %s %s { %%IP%% }", d.Table, d.Set4)
}

// StopCommand closes the IPv4 door for %IP%.
func (d *Door) StopCommand() string {
	return fmt.Sprintf("nft delete element %s %s { %%IP%% }", d.Table, d.Set4)
}

// StartCommand6 is Start_Command_6: it opens the IPv6 door for %IP%.
func (d *Door) StartCommand6() string {
	return fmt.Sprintf("nft add element %s %s { %%IP%% }", d.Table, d.Set6)
}

// StopCommand6 is Stop_Command_6.
func (d *Door) StopCommand6() string {
	return fmt.Sprintf("nft delete element %s %s { %%IP%% }", d.Table, d.Set6)
}

// Allow opens the door for addr by hand (as the start command would).
func (d *Door) Allow(ctx context.Context, addr netip.Addr) error {
	set := d.Set4
	if addr.Is6() {
		set = d.Set6
	}
	_, err := d.ns.Run(ctx, "nft", "add", "element", "inet", "lab", set, "{ "+addr.String()+" }")
	return err
}

// Allowed lists the addresses in both allow sets, sorted.
func (d *Door) Allowed(ctx context.Context) ([]netip.Addr, error) {
	var all []netip.Addr
	for _, set := range []string{d.Set4, d.Set6} {
		out, err := d.ns.Run(ctx, "nft", "-j", "list", "set", "inet", "lab", set)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Nftables []struct {
				Set *struct {
					Elem []json.RawMessage `json:"elem"`
				} `json:"set"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return nil, fmt.Errorf("nft -j list set %s: %w", set, err)
		}
		for _, o := range doc.Nftables {
			if o.Set == nil {
				continue
			}
			for _, raw := range o.Set.Elem {
				var s string
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, fmt.Errorf("nft set %s: unexpected element %s", set, raw)
				}
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, fmt.Errorf("nft set %s: %w", set, err)
				}
				all = append(all, a)
			}
		}
	}
	slices.SortFunc(all, netip.Addr.Compare)
	return all, nil
}

// ErrFiltered says a connection attempt timed out: the SYN was dropped, the
// door is closed.
var ErrFiltered = errors.New("connection filtered (timed out)")

// Connect opens a TCP connection from the namespace to dst, from src if it
// is valid, and proves it reaches the echo listener with a round trip. It
// returns nil if the door let it in, an error wrapping ErrFiltered if the
// connect timed out, and any other error as it is (a refused connection
// means there is no listener: a broken lab, not a closed door).
func (ns *Netns) Connect(src netip.Addr, dst netip.AddrPort, timeout time.Duration) error {
	var laddr net.Addr
	if src.IsValid() {
		laddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	c, err := ns.DialFrom(laddr, "tcp", dst.String(), timeout)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			from := "any"
			if src.IsValid() {
				from = src.String()
			}
			return fmt.Errorf("connect %s → %s: %w", from, dst, ErrFiltered)
		}
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	const msg = "open sesame\n"
	if _, err := io.WriteString(c, msg); err != nil {
		return fmt.Errorf("write to %s: %w", dst, err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("read echo from %s: %w", dst, err)
	}
	if string(buf) != msg {
		return fmt.Errorf("echo from %s: got %q, want %q", dst, buf, msg)
	}
	return nil
}

// String describes the door for messages.
func (d *Door) String() string {
	return fmt.Sprintf("door %d in %s (%s)", d.Port, d.ns.Name, strings.Join([]string{d.Set4, d.Set6}, ","))
}
