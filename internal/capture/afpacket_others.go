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
func (s *AFPacket) Stats() (packets, drops uint64) { return 0, 0 }

// DecodeErrors returns zero.
func (s *AFPacket) DecodeErrors() uint64 { return 0 }

// Close does nothing.
func (s *AFPacket) Close() error { return nil }
