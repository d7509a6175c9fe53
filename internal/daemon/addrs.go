package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/sesame-knock/sesame/internal/capture"
)

// localAddrs is the addresses of the capture interfaces, the destinations
// knocks for events without a Target must be sent to.
func localAddrs(ifaces []string) ([]netip.Addr, error) {
	var all []netip.Addr
	for _, name := range ifaces {
		addrs, err := capture.LocalAddrs(name)
		if err != nil {
			return nil, err
		}
		all = append(all, addrs...)
	}
	slices.SortFunc(all, netip.Addr.Compare)
	return slices.Compact(all), nil
}

// followAddrs keeps the engine's local addresses current: the kernel tells
// us (RTM_NEWADDR/RTM_DELADDR) when an address is added or removed, so a
// DHCP renewal or a ppp reconnect is followed at once, without polling.
// It returns when ctx ends.
func followAddrs(ctx context.Context, log *slog.Logger, ifaces []string, eng *engine, current []netip.Addr) {
	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	err := netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) { log.Warn("address updates failed", "err", err) },
	})
	if err != nil {
		log.Warn("cannot follow address changes; using the addresses read at start", "err", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-updates:
			if !ok {
				log.Warn("address updates stopped; using the last addresses known", "local", current)
				return
			}
			addrs, err := localAddrs(ifaces)
			if err != nil {
				log.Debug("reading addresses", "err", err)
				continue
			}
			if slices.Equal(addrs, current) {
				continue
			}
			current = addrs
			eng.setLocal(addrs)
			if len(addrs) == 0 {
				log.Warn("no address on the capture interfaces: knocks are ignored until one is added", "interfaces", ifaces)
			} else {
				log.Info("addresses changed", "local", addrs)
			}
		}
	}
}
