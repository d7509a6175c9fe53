package capture

import (
	"net/netip"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Interface describes a network interface for sesamed --list-interfaces.
type Interface struct {
	Name  string
	Index int
	Up    bool
	// HWType is the kernel's ARPHRD_ type (/sys/class/net/IF/type).
	HWType uint16
	// Link is how captured frames start, or zero when the AF_PACKET source
	// does not support the interface's type (LinkErr says why).
	Link    packet.LinkType
	LinkErr error
	Addrs   []netip.Prefix
}
