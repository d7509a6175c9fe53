package packet

// LinkType says what comes before the IP header in a captured frame.
// The values are the pcap LINKTYPE_ numbers so that capture files map
// directly.
type LinkType uint16

const (
	LinkEthernet LinkType = 1   // Ethernet II, optionally 802.1Q/802.1ad tagged (also loopback)
	LinkRaw      LinkType = 101 // no link header: the frame starts with the IPv4 or IPv6 header (tun, wireguard, ppp)
	LinkSLL      LinkType = 113 // Linux cooked capture v1
	LinkSLL2     LinkType = 276 // Linux cooked capture v2
)

func (l LinkType) String() string {
	switch l {
	case LinkEthernet:
		return "ethernet"
	case LinkRaw:
		return "raw-ip"
	case LinkSLL:
		return "sll"
	case LinkSLL2:
		return "sll2"
	case 0:
		return "-"
	}
	return "linktype(" + itoa(int(l)) + ")"
}
