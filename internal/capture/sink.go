package capture

import "github.com/sesame-knock/sesame/internal/packet"

// Sink receives the hits a source decodes.
//
// Hit is called synchronously on the source's goroutine, once per decoded
// packet, with a pointer to a Hit the source reuses: the sink must copy
// what it keeps (*h is a plain value) and must not retain h. A slow sink
// slows the capture; when the ring fills, the kernel drops packets and the
// source counts them (see Stats).
type Sink interface {
	Hit(h *packet.Hit)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(h *packet.Hit)

// Hit calls f(h).
func (f SinkFunc) Hit(h *packet.Hit) { f(h) }
