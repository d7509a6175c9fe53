package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/capture/nflog"
	"github.com/sesame-knock/sesame/internal/capture/pcapfile"
	"github.com/sesame-knock/sesame/internal/capture/udpsock"
	"github.com/sesame-knock/sesame/internal/config"
)

// feed is one capture source and how to open it again: the same road for
// every kind, so a hit from a UDP socket, an NFLOG group or a pcap file
// travels exactly as one from AF_PACKET does.
type feed struct {
	src  capture.Source
	open func() (capture.Source, error)
}

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

// openFeeds opens every source; on error it closes what it opened.
func openFeeds(cfg *config.Config, o Options, ifaces []string, spec capture.FilterSpec) (feeds []feed, err error) {
	defer func() {
		if err != nil {
			for _, f := range feeds {
				f.src.Close()
			}
			feeds = nil
		}
	}()
	add := func(open func() (capture.Source, error)) error {
		s, err := open()
		if err != nil {
			return err
		}
		feeds = append(feeds, feed{src: s, open: open})
		return nil
	}
	for _, c := range captures(cfg) {
		switch c.Kind {
		case config.CaptureAFPacket:
			for _, name := range ifaces {
				err = add(func() (capture.Source, error) { return capture.OpenAFPacket(name, spec) })
				if err != nil {
					return feeds, err
				}
			}
		case config.CaptureUDP:
			if len(spec.UDPPorts) == 0 {
				return feeds, errors.New("Capture = udp, but no event knocks on a UDP port")
			}
			err = add(func() (capture.Source, error) {
				return udpsock.Open(spec.UDPPorts, udpsock.Options{IPv4Only: o.IPv4Only})
			})
		case config.CaptureNflog:
			err = add(func() (capture.Source, error) {
				return nflog.Open(c.Group, spec, nflog.Options{Install: !c.External})
			})
		case config.CapturePcap:
			err = add(func() (capture.Source, error) {
				return pcapfile.Open(c.File, pcapfile.Options{Pace: true})
			})
		default:
			err = fmt.Errorf("unknown capture %q", c.Kind)
		}
		if err != nil {
			return feeds, err
		}
	}
	return feeds, nil
}

// runFeed runs one source; if it fails (an interface went away, a socket
// broke), it logs and reopens it every second until ctx ends, instead of
// taking the daemon down with it. A source that ends by nature (a pcap
// file) is not reopened.
func runFeed(ctx context.Context, log *slog.Logger, f feed, sink capture.Sink) {
	s := f.src
	for {
		err := s.Run(ctx, sink)
		st := s.Stats()
		log.Info("capture stats", "capture", s.Name(), "packets", st.Packets, "drops", st.Drops, "undecodable", st.Undecodable)
		if ctx.Err() != nil {
			return
		}
		if e, ok := s.(capture.Ender); ok && e.Ends() {
			// A replayed file is read once: at its end, or at a record
			// that cannot be read, it is done.
			if err != nil {
				log.Error("capture finished early", "capture", s.Name(), "err", err)
			} else {
				log.Info("capture finished", "capture", s.Name())
			}
			return
		}
		log.Error("capture stopped; will reopen", "capture", s.Name(), "err", err)
		for s = nil; s == nil; {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			if s, err = f.open(); err != nil {
				log.Debug("reopen failed", "capture", f.src.Name(), "err", err)
				s = nil
			}
		}
		log.Info("capture reopened", "capture", s.Name())
	}
}
