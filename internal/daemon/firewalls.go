package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/door"
	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/firewall/firewalld"
	"github.com/sesame-knock/sesame/internal/firewall/iptables"
	"github.com/sesame-knock/sesame/internal/firewall/nftables"
	"github.com/sesame-knock/sesame/internal/metrics"
)

// firewalls are the backends that serve the configuration's native doors:
// one per (firewall, nftables table, firewalld zone) in use.
type firewalls struct {
	byKey   map[backendKey]firewall.Backend
	byEvent map[*config.Event]firewall.Backend
	guarded map[firewall.Backend][]firewall.Port
	order   []firewall.Backend
}

type backendKey struct{ kind, nftTable, zone string }

// newBackend builds one backend; tests replace it.
var newBackend = func(k backendKey) (firewall.Backend, error) {
	switch k.kind {
	case config.FirewallNftables:
		if k.nftTable == "" {
			return nftables.New(nftables.Config{Mode: nftables.Guard})
		}
		family, table, _ := strings.Cut(k.nftTable, " ")
		return nftables.New(nftables.Config{Mode: nftables.SetOnly, Family: family, Table: table})
	case config.FirewallIptables:
		return iptables.New(iptables.Config{IPv6: true})
	case config.FirewallFirewalld:
		return firewalld.New(firewalld.Config{Zone: k.zone})
	}
	return nil, fmt.Errorf("unknown firewall %q", k.kind)
}

// defaultFirewall is nftables where the kernel answers for it, else iptables.
var defaultFirewall = func() string {
	if nftables.Available() == nil {
		return config.FirewallNftables
	}
	return config.FirewallIptables
}

// openFirewalls creates the backends the configuration's doors need. It
// talks to no firewall beyond connecting: Reconcile does the changes.
func openFirewalls(cfg *config.Config) (*firewalls, error) { return openFirewallsReusing(cfg, nil) }

// openFirewallsReusing is openFirewalls taking the backends prev (a
// running configuration's) already has for the same firewall, table and
// zone, so a reload keeps their connections and what they track. On
// error it closes only what it created.
func openFirewallsReusing(cfg *config.Config, prev *firewalls) (*firewalls, error) {
	f := &firewalls{byKey: map[backendKey]firewall.Backend{}, byEvent: map[*config.Event]firewall.Backend{}, guarded: map[firewall.Backend][]firewall.Port{}}
	var created []firewall.Backend
	def := ""
	for i := range cfg.Events {
		ev := &cfg.Events[i]
		if len(ev.Open) == 0 {
			continue
		}
		kind := ev.Firewall
		if kind == "" {
			if def == "" {
				def = defaultFirewall()
			}
			kind = def
		}
		k := backendKey{kind: kind, zone: ev.FirewalldZone}
		if kind == config.FirewallNftables {
			k.nftTable = ev.NftTable
		}
		b, ok := f.byKey[k]
		if !ok {
			if prev != nil {
				b, ok = prev.byKey[k]
			}
			if !ok {
				var err error
				if b, err = newBackend(k); err != nil {
					for _, c := range created {
						c.Close()
					}
					return nil, fmt.Errorf("event [%s]: %w", ev.Name, err)
				}
				created = append(created, b)
			}
			f.byKey[k] = b
			f.order = append(f.order, b)
		}
		f.byEvent[ev] = b
		for _, p := range ev.Open {
			if !slices.Contains(f.guarded[b], p) {
				f.guarded[b] = append(f.guarded[b], p)
			}
		}
	}
	return f, nil
}

// reconcile makes every backend hold what the configuration asks for,
// before the first knock can be matched.
func (f *firewalls) reconcile(ctx context.Context) error {
	for _, b := range f.order {
		if err := b.Reconcile(ctx, f.guarded[b]); err != nil {
			return err
		}
	}
	return nil
}

// notes collects what backends report about their last reconcile (a set of
// an older layout recreated, a chain replaced), for the log.
func (f *firewalls) notes() []string {
	var out []string
	for _, b := range f.order {
		if n, ok := b.(interface{ Notes() []string }); ok {
			for _, s := range n.Notes() {
				out = append(out, b.Name()+": "+s)
			}
		}
	}
	return out
}

// cleanup removes everything sesame put in each firewall.
func (f *firewalls) cleanup(ctx context.Context) error {
	var errs []error
	for _, b := range f.order {
		errs = append(errs, b.Cleanup(ctx))
	}
	return errors.Join(errs...)
}

func (f *firewalls) pick(ev *config.Event) firewall.Backend { return f.byEvent[ev] }

func (f *firewalls) Close() error {
	var errs []error
	for _, b := range f.order {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// Cleanup removes what sesame put in the firewalls the configuration uses
// (sesamed --cleanup).
func Cleanup(ctx context.Context, cfg *config.Config) error {
	f, err := openFirewalls(cfg)
	if err != nil {
		return err
	}
	defer f.Close()
	if len(f.order) == 0 {
		return errors.New("the configuration has no native doors (Open =): nothing to clean up")
	}
	return f.cleanup(ctx)
}

// doors is the Door the engine opens: an event's commands and its native
// door, as configured.
type doors struct {
	cmds   *door.Runner
	native *door.Native
	fws    *firewalls // the backends of the configuration in force
	open   *metrics.OpenDoors
}

func (d doors) Open(ev *config.Event, src netip.Addr) {
	if ev.StartCommand != "" || ev.StartCommand6 != "" {
		d.cmds.Open(ev, src)
	}
	if len(ev.Open) > 0 {
		d.native.OpenOn(d.fws.pick(ev), ev, src)
		if d.open != nil {
			now := time.Now()
			d.open.Open(ev.Name, src, now, now.Add(ev.OpenTimeout))
		}
	}
}
