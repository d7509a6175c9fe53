//go:build !linux

package capture

import (
	"context"
	"errors"
	"runtime"

	"github.com/sesame-knock/sesame/internal/packet"
)

var errNotSupported = errors.New("capture is not supported on " + runtime.GOOS)

// AFPacket is the Linux AF_PACKET source; on other systems it cannot be
// opened.
type AFPacket struct{}

// OpenAFPacket fails: AF_PACKET exists only on Linux.
func OpenAFPacket(ifname string, spec FilterSpec) (*AFPacket, error) {
	return nil, errNotSupported
}

// Run fails: AF_PACKET exists only on Linux.
func (s *AFPacket) Run(ctx context.Context, sink Sink) error { return errNotSupported }

// LinkType returns zero.
func (s *AFPacket) LinkType() packet.LinkType { return 0 }

// Stats returns zeros.
func (s *AFPacket) Stats() Stats { return Stats{} }

// Name is the interface's name.
func (s *AFPacket) Name() string { return "" }

// Close does nothing.
func (s *AFPacket) Close() error { return nil }

// Refilter fails: AF_PACKET exists only on Linux.
func (s *AFPacket) Refilter(spec FilterSpec) error { return errNotSupported }
