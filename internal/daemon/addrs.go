package daemon

import (
	"context"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/sesame-knock/sesame/internal/capture"
)

// localAddrs is the addresses of the capture interfaces, the destinations
// knocks for events without a Target must be sent to. An interface that
// is away (deleted, not yet back) has none; the error names the first
// interface that could not be read, and the addresses of the others are
// returned all the same.
func localAddrs(ifaces []string) ([]netip.Addr, error) {
	var all []netip.Addr
	var first error
	for _, name := range ifaces {
		addrs, err := capture.LocalAddrs(name)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		all = append(all, addrs...)
	}
	slices.SortFunc(all, netip.Addr.Compare)
	return slices.Compact(all), first
}

// watchNetwork follows the network as the kernel reports it: an address
// added or removed (RTM_NEWADDR/RTM_DELADDR: a DHCP renewal, a ppp
// reconnect) updates the engine's local addresses at once, without
// polling; a link that comes, goes, goes down or comes up wakes the feeds
// waiting to reopen their source, and tells the main loop (links) so that
// -i all can follow the interfaces. It returns when ctx ends.
func (d *daemon) watchNetwork(ctx context.Context, current []netip.Addr, links chan<- struct{}) {
	log := d.log
	addrUpdates := make(chan netlink.AddrUpdate, 64)
	linkUpdates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	err := netlink.AddrSubscribeWithOptions(addrUpdates, done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) {
			if ctx.Err() == nil { // not the socket closing at exit
				log.Warn("address updates failed", "err", err)
			}
		},
	})
	if err != nil {
		log.Warn("cannot follow address changes; using the addresses read at start", "err", err)
		addrUpdates = nil
	}
	err = netlink.LinkSubscribeWithOptions(linkUpdates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			if ctx.Err() == nil {
				log.Warn("link updates failed", "err", err)
			}
		},
	})
	if err != nil {
		log.Warn("cannot follow links; captures that fail are retried every second", "err", err)
		linkUpdates = nil
	}
	refresh := func() {
		if !d.sniff.Load() {
			return
		}
		ifaces := *d.ifaces.Load()
		addrs, err := localAddrs(ifaces)
		if err != nil {
			log.Debug("reading addresses", "err", err)
		}
		if slices.Equal(addrs, current) {
			return
		}
		current = addrs
		d.eng.setLocal(addrs)
		if len(addrs) == 0 {
			log.Warn("no address on the capture interfaces: knocks are ignored until one is added", "interfaces", ifaces)
		} else {
			log.Info("addresses changed", "local", addrs)
		}
	}
	for addrUpdates != nil || linkUpdates != nil {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-addrUpdates:
			if !ok {
				log.Warn("address updates stopped; using the last addresses known", "local", current)
				addrUpdates = nil
				continue
			}
			refresh()
		case _, ok := <-linkUpdates:
			if !ok {
				log.Warn("link updates stopped; captures that fail are retried every second")
				linkUpdates = nil
				continue
			}
			d.feeds.linksChanged()
			select {
			case links <- struct{}{}:
			default: // one pending is enough
			}
			refresh()
		}
	}
	<-ctx.Done()
}
