package daemon

import (
	"context"
	"net/netip"
	"slices"
	"time"

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
// -i all can follow the interfaces. A nudge (the main loop changed the
// interfaces) reads the addresses again. If the kernel's updates stop (a
// netlink socket overrun drops the subscription), it subscribes again and
// reads everything afresh. It returns when ctx ends.
func (d *daemon) watchNetwork(ctx context.Context, current []netip.Addr, links chan<- struct{}, nudge <-chan struct{}) {
	log := d.log
	refresh := func(force bool) {
		if !d.sniff.Load() {
			return
		}
		ifaces := *d.ifaces.Load()
		addrs, err := localAddrs(ifaces)
		if err != nil {
			log.Debug("reading addresses", "err", err)
		}
		if !force && slices.Equal(addrs, current) {
			return
		}
		changed := !slices.Equal(addrs, current)
		current = addrs
		d.eng.setLocal(addrs)
		switch {
		case len(addrs) == 0 && changed:
			log.Warn("no address on the capture interfaces: knocks are ignored until one is added", "interfaces", ifaces)
		case changed:
			log.Info("addresses changed", "local", addrs)
		}
	}
	linkChanged := func() {
		d.feeds.linksChanged()
		select {
		case links <- struct{}{}:
		default: // one pending is enough
		}
	}
	for failures := 0; ctx.Err() == nil; {
		if d.subscribe(ctx, refresh, linkChanged, nudge, failures == 0) {
			failures = 0
		} else {
			failures++
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		// Whatever happened while nobody listened.
		linkChanged()
		refresh(false)
	}
}

// subscribe follows address and link updates until one subscription
// ends or ctx does. It reports whether it could subscribe; warn says
// whether to log that it could not (once per run of failures).
func (d *daemon) subscribe(ctx context.Context, refresh func(bool), linkChanged func(), nudge <-chan struct{}, warn bool) bool {
	log := d.log
	addrUpdates := make(chan netlink.AddrUpdate, 256)
	linkUpdates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	onError := func(what string) func(error) {
		return func(err error) {
			if ctx.Err() == nil { // not the socket closing at exit
				log.Warn(what+" updates failed; subscribing again", "err", err)
			}
		}
	}
	err := netlink.AddrSubscribeWithOptions(addrUpdates, done, netlink.AddrSubscribeOptions{ErrorCallback: onError("address")})
	if err == nil {
		err = netlink.LinkSubscribeWithOptions(linkUpdates, done, netlink.LinkSubscribeOptions{ErrorCallback: onError("link")})
	}
	if err != nil {
		if warn {
			log.Warn("cannot follow address and link changes; trying again every second", "err", err)
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return true
		case <-nudge:
			refresh(true)
		case _, ok := <-addrUpdates:
			if !ok {
				return true
			}
			refresh(false)
		case _, ok := <-linkUpdates:
			if !ok {
				return true
			}
			linkChanged()
			refresh(false)
		}
	}
}
