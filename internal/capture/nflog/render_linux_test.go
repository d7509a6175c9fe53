package nflog

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from what the code produces")

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
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// renderRuleset prints a rule set in the style of nft --debug=netlink:
// table, chain, each set with its elements as ranges, then each rule's
// expressions. The same text is produced from what buildRuleset makes and
// from what the kernel lists after install, so one golden file checks
// both.
func renderRuleset(rs *ruleset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s\n", family(rs.table.Family), rs.table.Name)
	c := rs.chain
	fmt.Fprintf(&b, "chain %s type %s hook %s priority %s policy %s\n",
		c.Name, c.Type, hookName(c.Hooknum), prio(c.Priority), policyName(c.Policy))
	for _, s := range rs.sets {
		var flags []string
		if s.set.Constant {
			flags = append(flags, "constant")
		}
		if s.set.Interval {
			flags = append(flags, "interval")
		}
		fmt.Fprintf(&b, "set %s type %s flags %s\n", s.set.Name, s.set.KeyType.Name, strings.Join(flags, ","))
		fmt.Fprintf(&b, "\telements = { %s }\n", elementRanges(s.elems))
	}
	for i, r := range rs.rules {
		fmt.Fprintf(&b, "rule %d\n", i)
		for _, e := range r.Exprs {
			fmt.Fprintf(&b, "\t[ %s ]\n", renderExpr(e))
		}
	}
	return b.String()
}

func family(f nft.TableFamily) string {
	switch f {
	case nft.TableFamilyINet:
		return "inet"
	case nft.TableFamilyIPv4:
		return "ip"
	case nft.TableFamilyIPv6:
		return "ip6"
	}
	return fmt.Sprint(f)
}

func hookName(h *nft.ChainHook) string {
	switch {
	case h == nil:
		return "none"
	case *h == *nft.ChainHookInput:
		return "input"
	}
	return fmt.Sprint(*h)
}

func prio(p *nft.ChainPriority) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(int32(*p))
}

func policyName(p *nft.ChainPolicy) string {
	switch {
	case p == nil:
		return "none"
	case *p == nft.ChainPolicyAccept:
		return "accept"
	case *p == nft.ChainPolicyDrop:
		return "drop"
	}
	return fmt.Sprint(*p)
}

// elementRanges decodes an interval set's elements (a start element, and
// an end element one past the range unless it reaches 65535) into
// "lo-hi" ranges, in any element order. Broken encodings show as such.
func elementRanges(els []nft.SetElement) string {
	type el struct {
		key uint16
		end bool
	}
	var es []el
	for _, e := range els {
		if len(e.Key) != 2 {
			return fmt.Sprintf("BAD KEY %x", e.Key)
		}
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
	var out []string
	for i := 0; i < len(es); i++ {
		if es[i].end {
			continue // the end at 0, or a stray end
		}
		lo, hi := es[i].key, uint16(0xffff)
		if i+1 < len(es) {
			if !es[i+1].end {
				return "BAD: two starts in a row at " + fmt.Sprint(es[i+1].key)
			}
			hi = es[i+1].key - 1
			i++
		}
		if lo == hi {
			out = append(out, fmt.Sprint(lo))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", lo, hi))
		}
	}
	return strings.Join(out, ", ")
}

func renderExpr(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		return fmt.Sprintf("meta load %s => reg %d", metaKey(e.Key), e.Register)
	case *expr.Cmp:
		return fmt.Sprintf("cmp %s reg %d 0x%x", cmpOp(e.Op), e.Register, e.Data)
	case *expr.Payload:
		base := map[expr.PayloadBase]string{
			expr.PayloadBaseLLHeader: "link", expr.PayloadBaseNetworkHeader: "network",
			expr.PayloadBaseTransportHeader: "transport",
		}[e.Base]
		return fmt.Sprintf("payload load %db @ %s header + %d => reg %d", e.Len, base, e.Offset, e.DestRegister)
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise reg %d = ( reg %d & 0x%x ) ^ 0x%x", e.DestRegister, e.SourceRegister, e.Mask, e.Xor)
	case *expr.Lookup:
		inv := ""
		if e.Invert {
			inv = " invert"
		}
		return fmt.Sprintf("lookup reg %d set %s%s", e.SourceRegister, e.SetName, inv)
	case *expr.Log:
		s := "log"
		if e.Key&(1<<1) != 0 { // NFTA_LOG_PREFIX
			s += " prefix " + string(bytes.TrimRight(e.Data, "\x00"))
		}
		if e.Key&(1<<2) != 0 { // NFTA_LOG_GROUP
			s += fmt.Sprintf(" group %d", e.Group)
		}
		if e.Key&(1<<3) != 0 { // NFTA_LOG_SNAPLEN
			s += fmt.Sprintf(" snaplen %d", e.Snaplen)
		}
		if e.QThreshold != 0 {
			s += fmt.Sprintf(" qthreshold %d", e.QThreshold)
		}
		if e.Key&(1<<5) != 0 && e.Level != 0 { // NFTA_LOG_LEVEL
			s += fmt.Sprintf(" level %d", e.Level)
		}
		if e.Flags != 0 {
			s += fmt.Sprintf(" flags %#x", e.Flags)
		}
		return s
	case *expr.Verdict:
		return "immediate reg 0 " + verdictName(e.Kind)
	}
	return fmt.Sprintf("UNKNOWN %T %+v", e, e)
}

func metaKey(k expr.MetaKey) string {
	switch k {
	case expr.MetaKeyL4PROTO:
		return "l4proto"
	case expr.MetaKeyNFPROTO:
		return "nfproto"
	}
	return fmt.Sprint(k)
}

func cmpOp(o expr.CmpOp) string {
	return map[expr.CmpOp]string{expr.CmpOpEq: "eq", expr.CmpOpNeq: "neq", expr.CmpOpLt: "lt",
		expr.CmpOpLte: "lte", expr.CmpOpGt: "gt", expr.CmpOpGte: "gte"}[o]
}

func verdictName(k expr.VerdictKind) string {
	switch k {
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictContinue:
		return "continue"
	}
	return fmt.Sprint(k)
}
