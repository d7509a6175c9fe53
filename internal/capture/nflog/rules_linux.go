package nflog

import (
	"slices"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/packet"
)

// Names inside the table (TableName), and the log prefix of its rules.
const (
	chainName  = "input"
	tcpSetName = "tcp_ports"
	udpSetName = "udp_ports"
	logPrefix  = "sesame"
)

// Set IDs name the sets within the batch that creates them (a rule refers
// to a set added earlier in the same batch by name and ID); fixed values
// keep the rule set comparable.
const (
	tcpSetID = 1
	udpSetID = 2
)

// ruleset is what Open installs for one group and spec: the table, its
// chain, the port sets with their elements, and the chain's rules in
// order. It is a plain value built without the kernel, so that tests
// compare it with a golden file.
type ruleset struct {
	table *nft.Table
	chain *nft.Chain
	sets  []portSet
	rules []*nft.Rule
}

type portSet struct {
	set   *nft.Set
	elems []nft.SetElement
}

// buildRuleset lays out sesame's log rules for group and spec:
//
//	table inet sesame_nflog_G {
//		set tcp_ports { type inet_service; flags constant,interval; elements = { ... } }
//		set udp_ports { type inet_service; flags constant,interval; elements = { ... } }
//		chain input {
//			type filter hook input priority raw; policy accept;
//			tcp dport @tcp_ports log prefix "sesame" group G snaplen 256 return
//			udp dport @udp_ports log prefix "sesame" group G snaplen 256 return
//			# with the scan guard, instead of the udp rule:
//			tcp flags ! ack log prefix "sesame" group G snaplen 256 return
//			meta l4proto udp log prefix "sesame" group G snaplen 256 return
//		}
//	}
//
// Every rule ends in return, so a packet is logged at most once; none
// drops or accepts anything on the packet's behalf (a return from a base
// chain applies its accept policy, which only lets the packet go on to the
// next chain on the hook). An inet table sees IPv4 and IPv6 alike, and the
// kernel finds the transport header past IPv6 extension headers. A rule
// whose port list is empty is left out.
func buildRuleset(group uint16, spec capture.FilterSpec) *ruleset {
	t := &nft.Table{Family: nft.TableFamilyINet, Name: TableName(group)}
	policy := nft.ChainPolicyAccept
	c := &nft.Chain{
		Name:     chainName,
		Table:    t,
		Type:     nft.ChainTypeFilter,
		Hooknum:  nft.ChainHookInput,
		Priority: nft.ChainPriorityRaw, // -300
		Policy:   &policy,
	}
	rs := &ruleset{table: t, chain: c}
	rule := func(match ...expr.Any) {
		e := append(slices.Clip(match), logTo(group), &expr.Verdict{Kind: expr.VerdictReturn})
		rs.rules = append(rs.rules, &nft.Rule{Table: t, Chain: c, Exprs: e})
	}
	portRule := func(proto packet.Proto, name string, id uint32, ports []uint16) {
		if len(ports) == 0 {
			return
		}
		s := &nft.Set{
			Table:    t,
			ID:       id,
			Name:     name,
			Constant: true,
			Interval: true,
			KeyType:  nft.TypeInetService,
		}
		rs.sets = append(rs.sets, portSet{set: s, elems: intervalElements(portRanges(ports))})
		rule(append(l4proto(proto),
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, // dport
			&expr.Lookup{SourceRegister: reg1, SetName: name, SetID: id},
		)...)
	}
	portRule(packet.TCP, tcpSetName, tcpSetID, spec.TCPPorts)
	if !spec.ScanGuard {
		portRule(packet.UDP, udpSetName, udpSetID, spec.UDPPorts)
		return rs
	}
	// The probes: TCP without ACK (SYN, FIN, NULL, Xmas) to any port...
	rule(append(l4proto(packet.TCP),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1}, // flags
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{byte(packet.ACK)}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0}},
	)...)
	// ...and every UDP datagram, which covers the UDP ports too.
	rule(l4proto(packet.UDP)...)
	return rs
}

const reg1 = unix.NFT_REG_1

// l4proto matches the transport protocol ("meta l4proto tcp").
func l4proto(p packet.Proto) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(p)}},
	}
}

// logTo logs to the nflog group, copying CopyRange bytes.
func logTo(group uint16) expr.Any {
	return &expr.Log{
		Key:     1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_SNAPLEN,
		Group:   group,
		Snaplen: CopyRange,
		Data:    []byte(logPrefix),
	}
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint16 }

// portRanges sorts and deduplicates ports and merges consecutive ones (the
// 256-port window of a cipher knock becomes a single range).
func portRanges(ports []uint16) []portRange {
	p := slices.Clone(ports)
	slices.Sort(p)
	p = slices.Compact(p)
	var out []portRange
	for _, v := range p {
		if n := len(out); n > 0 && out[n-1].hi != 0xffff && out[n-1].hi+1 == v {
			out[n-1].hi = v
			continue
		}
		out = append(out, portRange{v, v})
	}
	return out
}

// intervalElements encodes ranges as an interval set's elements, as nft
// does: each range is a start element and an end element one past it
// (none for a range that reaches 65535), after an end element at 0 that
// closes the gap below the first range.
func intervalElements(ranges []portRange) []nft.SetElement {
	var els []nft.SetElement
	if len(ranges) > 0 && ranges[0].lo > 0 {
		els = append(els, nft.SetElement{Key: port(0), IntervalEnd: true})
	}
	for _, r := range ranges {
		els = append(els, nft.SetElement{Key: port(r.lo)})
		if r.hi != 0xffff {
			els = append(els, nft.SetElement{Key: port(r.hi + 1), IntervalEnd: true})
		}
	}
	return els
}

func port(p uint16) []byte { return []byte{byte(p >> 8), byte(p)} }
