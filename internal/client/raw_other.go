//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package client

import (
	"net/netip"

	"github.com/sesame-knock/sesame/internal/packet"
)

// RawFlagKnocks reports whether this system can send raw TCP flag knocks:
// not on Windows (whose raw sockets cannot send TCP) and other systems.
const RawFlagKnocks = false

func rawProbe(v6 bool) error { return ErrRawUnsupported }

func sendRaw(flags packet.TCPFlags, dst netip.AddrPort, src netip.Addr) error {
	return ErrRawUnsupported
}
