package nflog

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/capture"
)

// window returns the n ports from first on: a cipher knock's window.
func window(first uint16, n int) []uint16 {
	var p []uint16
	for i := range n {
		p = append(p, first+uint16(i))
	}
	return p
}

var rulesetCases = []struct {
	name string
	spec capture.FilterSpec
}{
	{"tcp_udp", capture.FilterSpec{TCPPorts: []uint16{9000, 7000, 8000}, UDPPorts: []uint16{7500}}},
	{"tcp_only", capture.FilterSpec{TCPPorts: []uint16{22}}},
	{"udp_only", capture.FilterSpec{UDPPorts: []uint16{7500, 7501, 7502}}},
	{"ranges", capture.FilterSpec{
		// A cipher window, a stray port just past it, both ends of the
		// port space, duplicates, no order.
		TCPPorts: append(window(20000, 256), 20257, 65535, 1, 20000, 65534),
		UDPPorts: append(window(30000, 256), 29999, 40000, 40000),
	}},
	{"scanguard", capture.FilterSpec{TCPPorts: []uint16{7000, 8000}, UDPPorts: []uint16{7500}, ScanGuard: true}},
	{"scanguard_only", capture.FilterSpec{ScanGuard: true}},
	{"empty", capture.FilterSpec{}},
}

// The rule set for each spec, as text, against testdata/ruleset_*.golden.
func TestRulesetGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range rulesetCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden(t, "ruleset_"+tc.name+".golden", renderRuleset(buildRuleset(5, tc.spec)))
		})
	}
}

// Invariants no golden file should be trusted to show: an inet table (so
// IPv4 and IPv6 alike, with no protocol-family match anywhere), the input
// hook before the filter, and rules that log once and never decide a
// packet's fate.
func TestRulesetInvariants(t *testing.T) {
	t.Parallel()
	for _, tc := range rulesetCases {
		rs := buildRuleset(7, tc.spec)
		if rs.table.Family != nft.TableFamilyINet || rs.table.Name != "sesame_nflog_7" {
			t.Errorf("%s: table %v %s", tc.name, rs.table.Family, rs.table.Name)
		}
		if *rs.chain.Hooknum != *nft.ChainHookInput || *rs.chain.Priority != -300 || *rs.chain.Policy != nft.ChainPolicyAccept {
			t.Errorf("%s: chain hook %d priority %d policy %d", tc.name, *rs.chain.Hooknum, *rs.chain.Priority, *rs.chain.Policy)
		}
		for i, r := range rs.rules {
			var logs, verdicts int
			for j, e := range r.Exprs {
				switch e := e.(type) {
				case *expr.Meta:
					if e.Key == expr.MetaKeyNFPROTO {
						t.Errorf("%s: rule %d matches the protocol family", tc.name, i)
					}
				case *expr.Log:
					logs++
					if e.Group != 7 || e.Snaplen != CopyRange {
						t.Errorf("%s: rule %d logs to group %d with snaplen %d", tc.name, i, e.Group, e.Snaplen)
					}
				case *expr.Verdict:
					verdicts++
					if e.Kind != expr.VerdictReturn || j != len(r.Exprs)-1 {
						t.Errorf("%s: rule %d has verdict %d at %d", tc.name, i, e.Kind, j)
					}
				}
			}
			if logs != 1 || verdicts != 1 {
				t.Errorf("%s: rule %d has %d log and %d verdict expressions, want 1 and 1", tc.name, i, logs, verdicts)
			}
		}
	}
}

// Each group has its own table, so daemons on different groups in one
// network namespace do not replace or remove each other's.
func TestTableName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		group uint16
		want  string
	}{{0, "sesame_nflog_0"}, {5, "sesame_nflog_5"}, {6, "sesame_nflog_6"}, {65535, "sesame_nflog_65535"}} {
		if got := TableName(tc.group); got != tc.want {
			t.Errorf("TableName(%d) = %q, want %q", tc.group, got, tc.want)
		}
		if got := buildRuleset(tc.group, capture.FilterSpec{}).table.Name; got != tc.want {
			t.Errorf("buildRuleset(%d) makes table %q, want %q", tc.group, got, tc.want)
		}
	}
}

func TestIntervalElements(t *testing.T) {
	t.Parallel()
	type el struct {
		key uint16
		end bool
	}
	for _, tc := range []struct {
		name  string
		ports []uint16
		want  []el
	}{
		{"one", []uint16{7000}, []el{{0, true}, {7000, false}, {7001, true}}},
		{"window", window(8000, 256), []el{{0, true}, {8000, false}, {8256, true}}},
		{"adjacent gap of one", []uint16{5, 7}, []el{{0, true}, {5, false}, {6, true}, {7, false}, {8, true}}},
		{"top", []uint16{65535, 65534}, []el{{0, true}, {65534, false}}},
		{"port 0", []uint16{0, 1}, []el{{0, false}, {2, true}}},
		{"everything", nil, nil},
	} {
		var got []el
		for _, e := range intervalElements(portRanges(tc.ports)) {
			got = append(got, el{binary.BigEndian.Uint16(e.Key), e.IntervalEnd})
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(el{})); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.name, diff)
		}
	}
}

// members evaluates an interval set on every port as the kernel's rbtree
// does: a port matches if the greatest element at or below it is a start
// (a start sorts after an end of the same key).
func members(els []nft.SetElement) []bool {
	type el struct {
		key uint16
		end bool
	}
	var es []el
	for _, e := range els {
		es = append(es, el{binary.BigEndian.Uint16(e.Key), e.IntervalEnd})
	}
	slices.SortFunc(es, func(a, b el) int {
		if a.key != b.key {
			return int(a.key) - int(b.key)
		}
		if a.end == b.end {
			return 0
		}
		if a.end {
			return -1
		}
		return 1
	})
	in := make([]bool, 65536)
	cur, i := false, 0
	for p := range 65536 {
		for i < len(es) && int(es[i].key) <= p {
			cur = !es[i].end
			i++
		}
		in[p] = cur
	}
	return in
}

// Large port lists (TOTP ranges, several cipher windows, scattered ports)
// become interval sets that match exactly the listed ports.
func TestIntervalSetsMatchExactly(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	lists := [][]uint16{
		{0}, {65535}, {0, 65535}, {1, 2, 3, 65533, 65535},
		append(window(10000, 256), window(10256, 256)...), // two windows touching
	}
	for range 20 {
		var l []uint16
		for range r.IntN(3000) + 1 {
			l = append(l, uint16(r.IntN(65536)))
		}
		for range r.IntN(4) {
			l = append(l, window(uint16(r.IntN(65536-256)), 256)...)
		}
		lists = append(lists, l)
	}
	for i, l := range lists {
		els := intervalElements(portRanges(l))
		want := make([]bool, 65536)
		for _, p := range l {
			want[p] = true
		}
		got := members(els)
		for p := range 65536 {
			if got[p] != want[p] {
				t.Fatalf("list %d (%d ports, %d elements): port %d in set = %v, want %v", i, len(l), len(els), p, got[p], want[p])
			}
		}
	}
}

// fakeKernel answers a test dialer: an ack for every message that asks
// for one. It records the requests.
type fakeKernel struct{ reqs []netlink.Message }

func (k *fakeKernel) dial(req []netlink.Message) ([]netlink.Message, error) {
	var out []netlink.Message
	for _, m := range req {
		k.reqs = append(k.reqs, m)
		if m.Header.Flags&netlink.Acknowledge != 0 {
			out = append(out, netlink.Message{
				Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data:   []byte{0, 0, 0, 0},
			})
		}
	}
	return out, nil
}

// The netlink batches install and remove send, against
// testdata/batch_*.golden: stale table handling (add, delete, add) and
// everything in one batch.
func TestInstallBatchGolden(t *testing.T) {
	t.Parallel()
	var k fakeKernel
	spec := capture.FilterSpec{TCPPorts: append(window(20000, 256), 7000), UDPPorts: []uint16{7500}}
	in, err := install(buildRuleset(5, spec), nft.WithTestDial(k.dial))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "batch_install.golden", renderMsgs(k.reqs))
	k.reqs = nil
	if err := in.remove(); err != nil {
		t.Fatal(err)
	}
	golden(t, "batch_remove.golden", renderMsgs(k.reqs))
}

var msgNames = map[int]string{
	unix.NFT_MSG_NEWTABLE: "NEWTABLE", unix.NFT_MSG_DELTABLE: "DELTABLE",
	unix.NFT_MSG_NEWCHAIN: "NEWCHAIN", unix.NFT_MSG_NEWRULE: "NEWRULE",
	unix.NFT_MSG_NEWSET: "NEWSET", unix.NFT_MSG_NEWSETELEM: "NEWSETELEM",
}

// renderMsgs prints netlink messages readably: type, flags and family,
// then the attribute tree (nested attributes opened, strings quoted,
// other values in hex). Sequence numbers and port IDs vary, so they are
// left out.
func renderMsgs(msgs []netlink.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		name := msgNames[int(m.Header.Type&0xff)]
		switch {
		case m.Header.Type == unix.NFNL_MSG_BATCH_BEGIN:
			name = "BATCH_BEGIN"
		case m.Header.Type == unix.NFNL_MSG_BATCH_END:
			name = "BATCH_END"
		case m.Header.Type>>8 != unix.NFNL_SUBSYS_NFTABLES || name == "":
			name = fmt.Sprintf("type %#x", uint16(m.Header.Type))
		}
		fam := "?"
		if len(m.Data) >= 4 {
			fam = fmt.Sprint(m.Data[0])
		}
		fmt.Fprintf(&b, "#%d %s flags=%#x family=%s\n", i, name, uint16(m.Header.Flags), fam)
		if len(m.Data) > 4 {
			renderAttrs(&b, m.Data[4:], 1)
		}
	}
	return b.String()
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
		case nested && !attrsParse(v):
			// google/nftables flags NFTA_SET_ELEM_FLAGS as nested.
			fmt.Fprintf(b, "%s%d %x (flagged nested)\n", indent, typ, v)
		case nested:
			fmt.Fprintf(b, "%s%d {\n", indent, typ)
			renderAttrs(b, v, depth+1)
			fmt.Fprintf(b, "%s}\n", indent)
		case isString(v):
			fmt.Fprintf(b, "%s%d %q\n", indent, typ, v[:len(v)-1])
		default:
			fmt.Fprintf(b, "%s%d %x\n", indent, typ, v)
		}
		data = data[min((l+3)&^3, len(data)):]
	}
}

func isString(v []byte) bool {
	return len(v) >= 2 && v[len(v)-1] == 0 && !slices.ContainsFunc(v[:len(v)-1], func(c byte) bool { return c < 0x20 || c > 0x7e })
}

// attrsParse reports whether v is a well-formed run of attributes.
func attrsParse(v []byte) bool {
	for len(v) > 0 {
		if len(v) < 4 {
			return false
		}
		l := int(binary.NativeEndian.Uint16(v))
		if l < 4 || l > len(v) {
			return false
		}
		v = v[min((l+3)&^3, len(v)):]
	}
	return true
}
