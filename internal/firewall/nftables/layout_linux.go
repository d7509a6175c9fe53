//go:build linux

package nftables

import (
	"encoding/binary"
	"net/netip"
	"slices"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// The set key types. In a concatenation every component is padded to a
// multiple of 4 bytes (one 32-bit register each), so a key is
//
//	v4:      addr[4]  proto[1] 0 0 0  port[2] 0 0   = 12 bytes
//	v6:      addr[16] proto[1] 0 0 0  port[2] 0 0   = 24 bytes
//	guarded:          proto[1] 0 0 0  port[2] 0 0   =  8 bytes
var (
	keyV4      = nft.MustConcatSetType(nft.TypeIPAddr, nft.TypeInetProto, nft.TypeInetService)
	keyV6      = nft.MustConcatSetType(nft.TypeIP6Addr, nft.TypeInetProto, nft.TypeInetService)
	keyGuarded = nft.MustConcatSetType(nft.TypeInetProto, nft.TypeInetService)
)

// Set IDs name sets inside one batch (a rule may refer to a set created
// earlier in the same batch). They only need to be unique within a batch;
// fixed values keep the golden batches stable.
const (
	idV4      = 1
	idV6      = 2
	idGuarded = 3
)

func doorSet(t *nft.Table, name string) *nft.Set {
	s := &nft.Set{
		Table:         t,
		Name:          name,
		HasTimeout:    true,
		Concatenation: true,
	}
	if name == SetV6 {
		s.ID, s.KeyType = idV6, keyV6
	} else {
		s.ID, s.KeyType = idV4, keyV4
	}
	return s
}

func guardedSet(t *nft.Table) *nft.Set {
	return &nft.Set{
		Table:         t,
		Name:          GuardedSet,
		ID:            idGuarded,
		Constant:      true,
		Concatenation: true,
		KeyType:       keyGuarded,
	}
}

// sameSetType reports whether an existing set can hold doors of want's
// layout.
func sameSetType(have, want *nft.Set) bool {
	return have.KeyType.GetNFTMagic() == want.KeyType.GetNFTMagic() &&
		have.KeyType.Bytes == want.KeyType.Bytes &&
		have.HasTimeout == want.HasTimeout &&
		!have.IsMap && !have.Interval
}

func inputChain(t *nft.Table) *nft.Chain {
	policy := nft.ChainPolicyAccept
	return &nft.Chain{
		Name:     ChainName,
		Table:    t,
		Type:     nft.ChainTypeFilter,
		Hooknum:  nft.ChainHookInput,
		Priority: nft.ChainPriorityRef(*nft.ChainPriorityFilter - 10),
		Policy:   &policy,
	}
}

func sameChain(have, want *nft.Chain) bool {
	eqHook := have.Hooknum != nil && *have.Hooknum == *want.Hooknum
	eqPrio := have.Priority != nil && *have.Priority == *want.Priority
	eqPolicy := have.Policy != nil && *have.Policy == *want.Policy
	return eqHook && eqPrio && eqPolicy && have.Type == want.Type
}

// portKey is proto . port, each padded to a register.
func portKey(b []byte, p firewall.Port) []byte {
	b = append(b, byte(p.Proto), 0, 0, 0)
	return append(b, byte(p.Port>>8), byte(p.Port), 0, 0)
}

// doorKey is addr . proto . port; src must be unmapped.
func doorKey(src netip.Addr, p firewall.Port) []byte {
	b := make([]byte, 0, 24)
	b = append(b, src.AsSlice()...)
	return portKey(b, p)
}

// parseDoorKey is doorKey's inverse.
func parseDoorKey(k []byte) (netip.Addr, firewall.Port, bool) {
	var alen int
	switch len(k) {
	case 12:
		alen = 4
	case 24:
		alen = 16
	default:
		return netip.Addr{}, firewall.Port{}, false
	}
	a, _ := netip.AddrFromSlice(k[:alen])
	p := firewall.Port{Proto: packet.Proto(k[alen]), Port: binary.BigEndian.Uint16(k[alen+4:])}
	return a, p, true
}

// guardedElements is the guarded set's content: sorted, without duplicates.
func guardedElements(ports []firewall.Port) []nft.SetElement {
	ps := slices.Clone(ports)
	slices.SortFunc(ps, func(a, b firewall.Port) int {
		if a.Proto != b.Proto {
			return int(a.Proto) - int(b.Proto)
		}
		return int(a.Port) - int(b.Port)
	})
	ps = slices.Compact(ps)
	els := make([]nft.SetElement, len(ps))
	for i, p := range ps {
		els[i] = nft.SetElement{Key: portKey(nil, p)}
	}
	return els
}

// Registers. A concatenation is loaded into consecutive 32-bit registers
// starting at NFT_REG_1 (which is NFT_REG32_00), one register per 4 bytes
// of each padded component; the lookup then reads the key from NFT_REG_1.
const (
	reg1 = unix.NFT_REG_1
	r32  = unix.NFT_REG32_00 // the 32-bit register that NFT_REG_1 starts at
)

func loadL4Proto(reg uint32) expr.Any {
	return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}
}

func loadDport(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

// guardRules are guard mode's chain, in order (see the package comment).
func guardRules(t *nft.Table, c *nft.Chain) []*nft.Rule {
	rule := func(e ...expr.Any) *nft.Rule { return &nft.Rule{Table: t, Chain: c, Exprs: e} }
	return []*nft.Rule{
		// meta l4proto . th dport != @guarded accept
		rule(
			loadL4Proto(reg1),
			loadDport(r32+1),
			&expr.Lookup{SourceRegister: reg1, SetName: GuardedSet, SetID: idGuarded, Invert: true},
			verdict(expr.VerdictAccept),
		),
		// ip saddr . meta l4proto . th dport @sesame_v4 accept
		rule(
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			loadL4Proto(r32+1),
			loadDport(r32+2),
			&expr.Lookup{SourceRegister: reg1, SetName: SetV4, SetID: idV4},
			verdict(expr.VerdictAccept),
		),
		// ip6 saddr . meta l4proto . th dport @sesame_v6 accept
		rule(
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.NFPROTO_IPV6}},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
			loadL4Proto(r32+4),
			loadDport(r32+5),
			&expr.Lookup{SourceRegister: reg1, SetName: SetV6, SetID: idV6},
			verdict(expr.VerdictAccept),
		),
		// tcp flags & (syn | ack) == syn drop
		rule(
			loadL4Proto(reg1),
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1,
				Mask: []byte{byte(packet.SYN | packet.ACK)}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(packet.SYN)}},
			verdict(expr.VerdictDrop),
		),
		// ct state established,related accept
		rule(
			&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
			verdict(expr.VerdictAccept),
		),
		// drop
		rule(verdict(expr.VerdictDrop)),
	}
}
