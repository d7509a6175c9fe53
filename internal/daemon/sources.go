package daemon

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/capture/nflog"
	"github.com/sesame-knock/sesame/internal/capture/pcapfile"
	"github.com/sesame-knock/sesame/internal/capture/udpsock"
	"github.com/sesame-knock/sesame/internal/config"
)

// captures lists the configured sources (afpacket alone by default).
func captures(cfg *config.Config) []config.Capture {
	if len(cfg.Options.Capture) == 0 {
		return []config.Capture{{Kind: config.CaptureAFPacket}}
	}
	return cfg.Options.Capture
}

// sniffs reports whether some source reads interfaces (AF_PACKET): only
// then are hits checked against the interfaces' addresses. A UDP socket
// or an input-hook NFLOG rule only ever sees packets for this host, and a
// replayed capture was addressed to another host.
func sniffs(cfg *config.Config) bool {
	for _, c := range captures(cfg) {
		if c.Kind == config.CaptureAFPacket {
			return true
		}
	}
	return false
}

// want is one source a configuration asks for: its identity (key), the
// filter it needs, and how to open it with a given filter. Two wants
// with the same key are the same socket: a reload keeps it, swaps its
// filter when only the ports changed and the source can (AF_PACKET), and
// opens it anew otherwise.
type want struct {
	key  string
	spec capture.FilterSpec
	open func(capture.FilterSpec) (capture.Source, error)
	// refilter says the source takes a new filter in place (AF_PACKET).
	refilter bool
	// up, when set, says whether reopening is worth a try (the interface
	// is there and up): a socket bound to an interface that is still
	// being set up fails again as it comes up.
	up func() bool
}

// wants lists the sources of cfg; ifaces are the interfaces AF_PACKET
// reads (see interfaceSet).
func wants(cfg *config.Config, ipv4Only bool, ifaces []string, spec capture.FilterSpec) ([]want, error) {
	var out []want
	for _, c := range captures(cfg) {
		switch c.Kind {
		case config.CaptureAFPacket:
			for _, name := range ifaces {
				out = append(out, want{key: "afpacket:" + name, spec: spec, refilter: true, open: func(s capture.FilterSpec) (capture.Source, error) {
					return capture.OpenAFPacket(name, s)
				}, up: func() bool {
					in, err := net.InterfaceByName(name)
					return err == nil && in.Flags&net.FlagUp != 0
				}})
			}
		case config.CaptureUDP:
			if len(spec.UDPPorts) == 0 {
				return nil, errors.New("Capture = udp, but no event knocks on a UDP port")
			}
			out = append(out, want{key: "udp", spec: spec, open: func(s capture.FilterSpec) (capture.Source, error) {
				return udpsock.Open(s.UDPPorts, udpsock.Options{IPv4Only: ipv4Only})
			}})
		case config.CaptureNflog:
			key := fmt.Sprintf("nflog:%d", c.Group)
			if c.External {
				key += ":external"
			}
			out = append(out, want{key: key, spec: spec, open: func(s capture.FilterSpec) (capture.Source, error) {
				return nflog.Open(c.Group, s, nflog.Options{Install: !c.External})
			}})
		case config.CapturePcap:
			out = append(out, want{key: "pcap:" + c.File, spec: spec, open: func(capture.FilterSpec) (capture.Source, error) {
				return pcapfile.Open(c.File, pcapfile.Options{Pace: true})
			}})
		default:
			return nil, fmt.Errorf("unknown capture %q", c.Kind)
		}
	}
	return out, nil
}

// sameSpec reports whether two filter specs ask for the same packets.
func sameSpec(a, b capture.FilterSpec) bool {
	return a.ScanGuard == b.ScanGuard && slices.Equal(a.TCPPorts, b.TCPPorts) && slices.Equal(a.UDPPorts, b.UDPPorts)
}
