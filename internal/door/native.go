package door

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/firewall"
)

// Native opens native doors (an event's Open = ...) in the firewall. Open
// never blocks the capture path: requests go to one goroutine that takes
// everything queued and makes one firewall change per backend, so a burst
// of a thousand knockers costs a few netlink batches, not a thousand.
type Native struct {
	log  *slog.Logger
	pick func(ev *config.Event) firewall.Backend
	reqs chan nativeReq
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

type nativeReq struct {
	b     firewall.Backend
	ev    *config.Event
	src   netip.Addr
	since time.Time
}

// nativeQueue bounds the opens waiting for the firewall; past it an open is
// refused with an error line (the knocker can knock again).
const nativeQueue = 4096

// maxBatch bounds the doors in one firewall change.
const maxBatch = 256

// NewNative starts the goroutine that talks to the firewall. pick returns
// the backend that serves an event's door, for Open (OpenOn needs none).
func NewNative(log *slog.Logger, pick func(ev *config.Event) firewall.Backend) *Native {
	n := &Native{log: log, pick: pick, reqs: make(chan nativeReq, nativeQueue)}
	n.wg.Add(1)
	go n.run()
	return n
}

// Open admits src to ev's Open ports for ev's OpenTimeout, in the
// backend pick chooses.
func (n *Native) Open(ev *config.Event, src netip.Addr) { n.OpenOn(n.pick(ev), ev, src) }

// OpenOn admits src to ev's Open ports for ev's OpenTimeout, in b (the
// daemon picks the backend itself: a reload changes which serves ev).
func (n *Native) OpenOn(b firewall.Backend, ev *config.Event, src netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.log.Warn("door not opened: shutting down", "event", ev.Name, "src", src, "stage", "open")
		return
	}
	select {
	case n.reqs <- nativeReq{b: b, ev: ev, src: src.Unmap(), since: time.Now()}:
	default:
		n.log.Error("door not opened: firewall queue full", "event", ev.Name, "src", src, "stage", "open")
	}
}

// Close opens what is queued and stops. Doors stay open in the kernel until
// their timeouts: closing them is the kernel's job, not the daemon's.
func (n *Native) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.reqs)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

func (n *Native) run() {
	defer n.wg.Done()
	batch := make([]nativeReq, 0, maxBatch)
	for r := range n.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-n.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		n.apply(batch)
	}
}

// apply makes one Open call per backend for the batch.
func (n *Native) apply(batch []nativeReq) {
	done := make([]bool, len(batch))
	for i := range batch {
		if done[i] {
			continue
		}
		b := batch[i].b
		var doors []firewall.Door
		var reqs []nativeReq
		for j := i; j < len(batch); j++ {
			if !done[j] && batch[j].b == b {
				done[j] = true
				r := batch[j]
				doors = append(doors, firewall.Door{Src: r.src, Ports: r.ev.Open, Timeout: r.ev.OpenTimeout})
				reqs = append(reqs, r)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := b.Open(ctx, doors)
		cancel()
		for _, r := range reqs {
			if err != nil {
				n.log.Error("failed to open door", "event", r.ev.Name, "src", r.src, "stage", "open", "firewall", b.Name(), "err", err)
				continue
			}
			n.log.Info("door open", "event", r.ev.Name, "src", r.src, "stage", "open", "firewall", b.Name(),
				"ports", config.FormatPorts(r.ev.Open), "timeout", r.ev.OpenTimeout, "took", time.Since(r.since).Round(time.Microsecond))
		}
	}
}
