//go:build !linux

package udpsock

import (
	"context"
	"errors"
	"runtime"

	"github.com/sesame-knock/sesame/internal/capture"
)

var errNotSupported = errors.New("udp capture is not supported on " + runtime.GOOS)

var _ capture.Source = (*Listener)(nil)

// Listener is the Linux UDP source; on other systems it cannot be opened.
type Listener struct{}

// Open fails: the UDP source is implemented for Linux only.
func Open(ports []uint16, opts Options) (*Listener, error) { return nil, errNotSupported }

// Run fails: the UDP source is implemented for Linux only.
func (l *Listener) Run(ctx context.Context, sink capture.Sink) error { return errNotSupported }

// Close does nothing.
func (l *Listener) Close() error { return nil }

// Name is "udp".
func (l *Listener) Name() string { return "udp" }

// Stats returns zeros.
func (l *Listener) Stats() capture.Stats { return capture.Stats{} }
