//go:build linux

package nftables

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and testdata/*.nft from what the code produces")

// fakeKernel answers the requests of a test dialer: acks for every
// message that asks for one, the listed tables for a table dump, nothing
// for other dumps. It records every request.
type fakeKernel struct {
	tables []string // "family name", e.g. "inet filter"
	reqs   []netlink.Message
}

func (k *fakeKernel) dial(req []netlink.Message) ([]netlink.Message, error) {
	var out []netlink.Message
	for _, m := range req {
		k.reqs = append(k.reqs, m)
		msgType := m.Header.Type & 0xff
		switch {
		case m.Header.Type>>8 == unix.NFNL_SUBSYS_NFTABLES && msgType == unix.NFT_MSG_GETTABLE:
			for _, t := range k.tables {
				fam, name, _ := strings.Cut(t, " ")
				data := []byte{byte(familyOf(fam)), 0, 0, 0}
				data = append(data, nltest.MustMarshalAttributes([]netlink.Attribute{
					{Type: unix.NFTA_TABLE_NAME, Data: []byte(name + "\x00")},
				})...)
				out = append(out, netlink.Message{
					Header: netlink.Header{Type: m.Header.Type &^ 0xff, Sequence: m.Header.Sequence, PID: m.Header.PID},
					Data:   data,
				})
			}
		case m.Header.Flags&netlink.Dump != 0:
		case m.Header.Flags&netlink.Acknowledge != 0:
			out = append(out, netlink.Message{
				Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data:   []byte{0, 0, 0, 0},
			})
		}
	}
	return out, nil
}

func newFake(t *testing.T, cfg Config, k *fakeKernel) *Backend {
	t.Helper()
	cfg.testDial = k.dial
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var msgNames = map[int]string{
	unix.NFT_MSG_NEWTABLE: "NEWTABLE", unix.NFT_MSG_GETTABLE: "GETTABLE", unix.NFT_MSG_DELTABLE: "DELTABLE",
	unix.NFT_MSG_NEWCHAIN: "NEWCHAIN", unix.NFT_MSG_GETCHAIN: "GETCHAIN", unix.NFT_MSG_DELCHAIN: "DELCHAIN",
	unix.NFT_MSG_NEWRULE: "NEWRULE", unix.NFT_MSG_GETRULE: "GETRULE", unix.NFT_MSG_DELRULE: "DELRULE",
	unix.NFT_MSG_NEWSET: "NEWSET", unix.NFT_MSG_GETSET: "GETSET", unix.NFT_MSG_DELSET: "DELSET",
	unix.NFT_MSG_NEWSETELEM: "NEWSETELEM", unix.NFT_MSG_GETSETELEM: "GETSETELEM", unix.NFT_MSG_DELSETELEM: "DELSETELEM",
}

// render prints netlink messages readably: the message type, header flags
// and nfgenmsg family, then the attribute tree (NLA_F_NESTED attributes
// opened, strings quoted, other values in hex). Sequence numbers and port
// IDs are left out: they vary between runs.
func render(msgs []netlink.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		var name string
		switch {
		case m.Header.Type == unix.NFNL_MSG_BATCH_BEGIN:
			name = "BATCH_BEGIN"
		case m.Header.Type == unix.NFNL_MSG_BATCH_END:
			name = "BATCH_END"
		case m.Header.Type>>8 == unix.NFNL_SUBSYS_NFTABLES:
			name = msgNames[int(m.Header.Type&0xff)]
		}
		if name == "" {
			name = fmt.Sprintf("type %#x", uint16(m.Header.Type))
		}
		fam := "?"
		if len(m.Data) >= 4 {
			fam = familyName2(m.Data[0])
		}
		fmt.Fprintf(&b, "#%d %s %s family=%s\n", i, name, flagString(m.Header.Flags), fam)
		if len(m.Data) > 4 {
			renderAttrs(&b, m.Data[4:], 1)
		}
	}
	return b.String()
}

func familyName2(f byte) string {
	switch f {
	case unix.NFPROTO_UNSPEC:
		return "unspec"
	case unix.NFPROTO_INET:
		return "inet"
	case unix.NFPROTO_IPV4:
		return "ip"
	case unix.NFPROTO_IPV6:
		return "ip6"
	}
	return fmt.Sprint(f)
}

func flagString(f netlink.HeaderFlags) string {
	var names []string
	for _, x := range []struct {
		bit  netlink.HeaderFlags
		name string
	}{
		{netlink.Dump, "dump"}, {netlink.Request, "request"}, {netlink.Acknowledge, "ack"}, {unix.NLM_F_ECHO, "echo"},
		{netlink.Replace, "replace"}, {netlink.Excl, "excl"}, {netlink.Create, "create"},
		{netlink.Append, "append"},
	} {
		if f&x.bit == x.bit {
			names = append(names, x.name)
			f &^= x.bit
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("%#x", uint16(f)))
	}
	return strings.Join(names, "|")
}

func renderAttrs(b *strings.Builder, data []byte, depth int) {
	indent := strings.Repeat("  ", depth)
	for len(data) >= 4 {
		l := int(binary.NativeEndian.Uint16(data))
		typ := binary.NativeEndian.Uint16(data[2:])
		if l < 4 || l > len(data) {
			fmt.Fprintf(b, "%sBAD ATTRIBUTE %x\n", indent, data)
			return
		}
		v := data[4:l]
		nested := typ&unix.NLA_F_NESTED != 0
		typ &^= unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER
		switch {
		case nested:
			fmt.Fprintf(b, "%s%d {\n", indent, typ)
			renderAttrs(b, v, depth+1)
			fmt.Fprintf(b, "%s}\n", indent)
		case isString(v):
			fmt.Fprintf(b, "%s%d %q\n", indent, typ, v[:len(v)-1])
		default:
			fmt.Fprintf(b, "%s%d %x\n", indent, typ, v)
		}
		step := (l + 3) &^ 3
		if step > len(data) {
			step = len(data)
		}
		data = data[step:]
	}
}

func isString(v []byte) bool {
	if len(v) < 2 || v[len(v)-1] != 0 {
		return false
	}
	for _, c := range v[:len(v)-1] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// golden compares got with testdata/name, or writes it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff is a minimal diff: the first differing line and its context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q\n--- got in full ---\n%s", i+1, wl, gl, got)
		}
	}
	return ""
}

var guardedPorts = []firewall.Port{{Proto: packet.TCP, Port: 22}, {Proto: packet.UDP, Port: 53}, {Proto: packet.TCP, Port: 8080}}

func TestGoldenReconcileGuard(t *testing.T) {
	k := &fakeKernel{}
	b := newFake(t, Config{}, k)
	k.reqs = nil // the probe in New
	if err := b.Reconcile(context.Background(), guardedPorts); err != nil {
		t.Fatal(err)
	}
	golden(t, "reconcile_guard.golden", render(k.reqs))
}

func TestGoldenReconcileSetMode(t *testing.T) {
	for _, fam := range []string{"inet", "ip"} {
		t.Run(fam, func(t *testing.T) {
			k := &fakeKernel{tables: []string{fam + " filter"}}
			b := newFake(t, Config{Mode: SetOnly, Family: fam, Table: "filter"}, k)
			k.reqs = nil
			if err := b.Reconcile(context.Background(), guardedPorts); err != nil {
				t.Fatal(err)
			}
			golden(t, "reconcile_set_"+fam+".golden", render(k.reqs))
		})
	}
}

func TestGoldenOpen(t *testing.T) {
	k := &fakeKernel{}
	b := newFake(t, Config{}, k)
	k.reqs = nil
	doors := []firewall.Door{
		{Src: netip.MustParseAddr("192.0.2.7"), Ports: []firewall.Port{{Proto: packet.TCP, Port: 22}, {Proto: packet.UDP, Port: 53}}, Timeout: 30 * time.Second},
		{Src: netip.MustParseAddr("2001:db8::7"), Ports: []firewall.Port{{Proto: packet.TCP, Port: 22}}, Timeout: 90 * time.Second},
		// The same door twice: one element, the longer timeout.
		{Src: netip.MustParseAddr("::ffff:192.0.2.7"), Ports: []firewall.Port{{Proto: packet.TCP, Port: 22}}, Timeout: 45 * time.Second},
	}
	if err := b.Open(context.Background(), doors); err != nil {
		t.Fatal(err)
	}
	golden(t, "open.golden", render(k.reqs))
}

func TestSetModeMissingTable(t *testing.T) {
	k := &fakeKernel{tables: []string{"ip filter"}}
	b := newFake(t, Config{Mode: SetOnly, Family: "inet", Table: "filter"}, k)
	err := b.Reconcile(context.Background(), nil)
	var fe *firewall.Error
	if !errorsAs(err, &fe) {
		t.Fatalf("Reconcile = %v, want a *firewall.Error", err)
	}
	if fe.Op != "reconcile" || !strings.Contains(fe.Hint, "nft add table inet filter") {
		t.Errorf("error %q: want op reconcile and a hint naming the table to create", err)
	}
}

func TestOpenRejects(t *testing.T) {
	k := &fakeKernel{}
	b := newFake(t, Config{}, k)
	for _, d := range []firewall.Door{
		{Src: netip.MustParseAddr("192.0.2.1"), Ports: guardedPorts, Timeout: 0},
		{Src: netip.MustParseAddr("192.0.2.1"), Ports: guardedPorts, Timeout: time.Microsecond},
		{Ports: guardedPorts, Timeout: time.Second},
	} {
		if err := b.Open(context.Background(), []firewall.Door{d}); err == nil {
			t.Errorf("Open(%+v) = nil, want an error", d)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []Config{
		{Mode: SetOnly},
		{Mode: SetOnly, Table: "filter", Family: "bridge"},
		{Mode: 7},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) = nil error", c)
		}
	}
}

func TestHint(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&netlink.OpError{Op: "receive", Err: unix.EPERM}, "CAP_NET_ADMIN"},
		{fmt.Errorf("receiveAckAware: %v", &netlink.OpError{Op: "receive", Err: unix.EPERM}), "CAP_NET_ADMIN"},
		{&netlink.OpError{Op: "socket", Err: unix.EPROTONOSUPPORT}, "nf_tables"},
		{&netlink.OpError{Op: "socket", Err: unix.EAFNOSUPPORT}, "nf_tables"},
	} {
		err := classify("connect", c.err)
		var fe *firewall.Error
		if !errorsAs(err, &fe) || !strings.Contains(fe.Hint, c.want) || fe.Backend != "nftables" {
			t.Errorf("classify(%v) = %v, want a hint with %q", c.err, err, c.want)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// Available only lists tables (it changes nothing): as root it must
// succeed, and without privilege it must say what to do.
func TestAvailable(t *testing.T) {
	err := Available()
	if os.Geteuid() == 0 {
		if err != nil {
			t.Errorf("Available() as root = %v", err)
		}
		return
	}
	var fe *firewall.Error
	if !errorsAs(err, &fe) || fe.Backend != "nftables" || fe.Hint == "" {
		t.Errorf("Available() without root = %v, want a *firewall.Error with a hint", err)
	}
	t.Logf("Available() without root: %v", err)
}
