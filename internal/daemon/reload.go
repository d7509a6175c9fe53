package daemon

// Reload: SIGHUP (systemctl reload) reads the configuration again. The new
// one is checked and set up in full — its files, keys, firewalls and new
// capture sockets — while the old one keeps running; only then does it
// take over, between two hits. A configuration that fails any of that is
// logged and dropped, and the old one goes on (knockd exits instead).
// What lives longer than a configuration carries over: attempts in
// progress of events whose knock did not change, pending stop commands,
// doors open in the firewall, and the capture sockets whose filter is the
// same (a socket whose ports changed gets the new filter, where it can).

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/privilege"
	"github.com/sesame-knock/sesame/internal/seq"
)

// generation is what one configuration makes of the daemon: replaced as a
// whole by a reload, or not at all.
type generation struct {
	cfg     *config.Config
	onetime []Sequencer
	keys    *Keys
	fws     *firewalls
	spec    capture.FilterSpec
	sniff   bool     // some source reads interfaces (see sniffs)
	ifaces  []string // the interfaces AF_PACKET reads
	all     bool     // ifaces is every interface, followed as they come and go
	wants   []want
}

// prepare checks cfg and sets up all it needs but its capture sockets,
// reusing what prev (the running generation, nil at start) already has: a
// one-time file's position, a firewall backend. On error nothing it set
// up is left behind.
func (d *daemon) prepare(ctx context.Context, cfg *config.Config, prev *generation) (g *generation, err error) {
	if len(cfg.Events) == 0 {
		return nil, ErrNoEvents
	}
	g = &generation{cfg: cfg, onetime: make([]Sequencer, len(cfg.Events)), sniff: sniffs(cfg)}
	defer func() {
		if err != nil {
			g.discard(prev)
		}
	}()
	for i, ev := range cfg.Events {
		if ev.OneTimeFile == "" {
			continue
		}
		if ot := prev.oneTime(ev.OneTimeFile); ot != nil {
			// The same file: it goes on where it is, read again in case
			// the list was replaced or edited.
			if r, ok := ot.(interface{ Reopen() error }); ok {
				if err := r.Reopen(); err != nil {
					d.log.Warn("one-time sequences not read again; keeping those read before", "event", ev.Name, "err", err)
				}
			}
			g.onetime[i] = ot
			continue
		}
		ot, err := seq.Open(ev.OneTimeFile)
		if err != nil {
			return nil, fmt.Errorf("event %s: failed to open one-time sequences: %w", ev.Name, err)
		}
		if _, ok := ot.Current(); !ok {
			d.log.Warn("one-time sequences exhausted: event disabled", "event", ev.Name, "file", ev.OneTimeFile)
		}
		g.onetime[i] = ot
	}
	if g.keys, err = LoadKeys(cfg); err != nil {
		return nil, err
	}
	if _, _, _, err := buildLanes(cfg.Events, g.keys, time.Now()); err != nil {
		return nil, err // too many TOTP clients: say so before anything changes
	}
	for i, ev := range cfg.Events {
		if ev.TOTP != nil && len(g.keys.TOTP[i].Clients) == 0 {
			d.log.Warn("TOTP event has no clients yet: nobody can knock it until one is enrolled", "event", ev.Name, "file", ev.TOTP.SecretFile, "hint", "sesamed --enroll CLIENT --event "+ev.Name)
		}
	}
	if needsReplayCache(cfg) && d.cache == nil {
		if d.cache, err = openReplayCache(cfg); err != nil {
			return nil, err
		}
	}
	if g.sniff {
		if g.ifaces, g.all, err = interfaces(cfg, d.o); err != nil {
			return nil, err
		}
	}
	g.spec = filterSpec(cfg, g.onetime)
	if g.wants, err = wants(cfg, d.o.IPv4Only, g.ifaces, g.spec); err != nil {
		return nil, err
	}

	// Native doors: the backends are connected here; what they hold is
	// changed last (applyFirewall), once nothing else can fail.
	var reuse *firewalls
	if prev != nil {
		reuse = prev.fws
	}
	if g.fws, err = openFirewallsReusing(cfg, reuse); err != nil {
		return nil, err
	}
	return g, nil
}

// applyFirewall makes the firewall hold what g's doors need: the last
// step of a start or reload, since it changes the host for everyone. A
// firewall that refuses stops the start (or the reload) with the
// backend's own advice; on a reload, the backends g shares with prev get
// prev's ports back, so a failed reload leaves the guard as it was.
func (d *daemon) applyFirewall(ctx context.Context, g, prev *generation) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := g.fws.reconcile(rctx)
	if err != nil && prev != nil {
		bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, b := range g.fws.order {
			// Shared backends get prev's ports back; new ones guard none.
			var ports []firewall.Port
			if slices.Contains(prev.fws.order, b) {
				ports = prev.fws.guarded[b]
			}
			if rerr := b.Reconcile(bctx, ports); rerr != nil {
				d.log.Error("reload: the firewall could not be put back as it was", "firewall", b.Name(), "err", rerr)
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	for _, note := range g.fws.notes() {
		d.log.Warn(note)
	}
	return nil
}

// oneTime returns g's sequencer of a one-time file, or nil.
func (g *generation) oneTime(file string) Sequencer {
	if g == nil {
		return nil
	}
	for i, ev := range g.cfg.Events {
		if ev.OneTimeFile == file && g.onetime[i] != nil {
			return g.onetime[i]
		}
	}
	return nil
}

// discard releases what g holds that keep (the generation that stays, or
// nil) does not share.
func (g *generation) discard(keep *generation) {
	for _, ot := range g.onetime {
		if ot == nil {
			continue
		}
		if keep != nil && slices.Contains(keep.onetime, ot) {
			continue
		}
		if c, ok := ot.(interface{ Close() error }); ok {
			c.Close()
		}
	}
	if g.fws != nil {
		for _, b := range g.fws.order {
			if keep == nil || keep.fws == nil || !slices.Contains(keep.fws.order, b) {
				b.Close()
			}
		}
	}
}

// reload loads the configuration again and, if all of it can be set up,
// makes it the one in force.
func (d *daemon) reload(ctx context.Context) {
	if d.o.Reload == nil {
		d.log.Warn("SIGHUP: this daemon cannot reload (its configuration came from no file); still running with the one read at start")
		return
	}
	start := time.Now()
	d.log.Info("SIGHUP: reloading the configuration", "config", d.gen.cfg.Source)
	cfg, err := d.o.Reload()
	if err == nil {
		err = d.swap(ctx, cfg)
	}
	if err != nil {
		for _, line := range errorLines(err) {
			d.log.Error("reload failed: "+line, "config", d.gen.cfg.Source)
		}
		d.log.Error("reload failed: still running with the previous configuration", "config", d.gen.cfg.Source, "events", len(d.gen.cfg.Events))
		status(d.log, "reload failed, running the previous configuration: %v", errorLines(err)[0])
		d.stats.ReloadFailed()
		return
	}
	status(d.log, "ready: %d events from %s (reloaded)", len(cfg.Events), cfg.Source)
	d.stats.Reloaded()
	d.source.Store(&cfg.Source)
	d.log.Info("reloaded", "config", cfg.Source, "events", len(cfg.Events), "capture", d.feeds.names(), "took", time.Since(start).Round(time.Millisecond))
}

// errorLines splits a configuration's error into its lines (every
// file:line error of a file on its own).
func errorLines(err error) []string {
	var errs config.Errors
	if errors.As(err, &errs) {
		out := make([]string, len(errs))
		for i, e := range errs {
			out[i] = e.Error()
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

// swap sets up cfg beside the running generation and, when all of it
// could be, switches to it. Every step that can fail comes first, and is
// undone if a later one fails: the old configuration then goes on as it
// was. The firewall is changed last.
func (d *daemon) swap(ctx context.Context, cfg *config.Config) (err error) {
	old := d.gen
	for _, what := range unreloadable(old.cfg, cfg) {
		d.log.Warn("reload: "+what+" changed; that takes effect at the next start", "config", cfg.Source)
	}
	g, err := d.prepare(ctx, cfg, old)
	if err != nil {
		return err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			g.discard(old)
		}
	}()
	if d.dropped {
		if more := privilege.SetOf(needed(cfg, g.spec)...) &^ d.kept; more != 0 {
			return fmt.Errorf("the new configuration needs %v, which sesamed gave up once it was set up: restart sesamed to apply it", more)
		}
		if runsCommands(cfg) {
			d.log.Warn("reload: events now run commands, but privileges were dropped at start: they run with cap_net_raw and cap_net_admin only until sesamed restarts", "config", cfg.Source)
		}
	}

	// Sources: new ones are opened; one whose ports changed and that
	// cannot take a new filter in place (a UDP socket, an NFLOG group,
	// which cannot be bound twice) is closed and opened anew now, and
	// put back if that fails.
	running := d.feeds.keys()
	var fresh []want
	for _, w := range g.wants {
		if _, ok := running[w.key]; !ok {
			fresh = append(fresh, w)
		}
	}
	opened, err := openAll(fresh)
	if err != nil {
		return err
	}
	undo = append(undo, func() { closeAll(opened) })
	for _, w := range g.wants {
		cur, ok := running[w.key]
		if !ok || sameSpec(cur.spec, w.spec) || cur.refilter {
			continue
		}
		d.feeds.stop(w.key)
		undo = append(undo, func() { d.feeds.start(cur, nil) })
		s, err := w.open(w.spec)
		if err != nil {
			return fmt.Errorf("failed to reopen %s for the new ports: %w", w.key, err)
		}
		opened[w.key] = s
	}
	if err := d.applyFirewall(ctx, g, old); err != nil {
		return err
	}

	// From here on nothing fails: the new generation takes over.
	var local []netip.Addr
	if g.sniff {
		local, _ = localAddrs(g.ifaces) // an interface may be away: no address yet
	}
	carried, dropped := d.eng.reconfigure(d.engineConfig(g, d.eng.clock), g.sniff, local)
	d.log.Info("reload: attempts in progress carried over", "carried", carried, "dropped", dropped)
	d.ifaces.Store(&g.ifaces)
	d.sniff.Store(g.sniff)
	d.nudgeWatcher()
	d.applyWants(g.wants, opened)
	for _, b := range old.fws.order {
		if !slices.Contains(g.fws.order, b) {
			d.retire(b)
		}
	}
	old.discard(g)
	d.gen = g
	return nil
}

// applyWants makes the running feeds those of ws: sources no longer
// wanted stop, new ones (opened, when they could be) start, and one whose
// filter changed gets the new filter or, when it cannot swap filters, is
// opened anew.
func (d *daemon) applyWants(ws []want, opened map[string]capture.Source) {
	running := d.feeds.keys()
	for key := range running {
		if !slices.ContainsFunc(ws, func(w want) bool { return w.key == key }) {
			d.feeds.stop(key)
			d.log.Info("capture stopped: no longer configured", "capture", key)
		}
	}
	for _, w := range ws {
		cur, ok := running[w.key]
		switch {
		case !ok:
			d.feeds.start(w, opened[w.key]) // nil: the feed opens it when it can
			d.log.Info("capture started", "capture", w.key)
		case sameSpec(cur.spec, w.spec):
			// The same socket and filter: it carries on untouched.
		default:
			swapped, err := d.feeds.refilter(w.key, w.spec)
			switch {
			case swapped:
				d.log.Info("capture filter replaced", "capture", w.key)
			default:
				if err != nil {
					d.log.Error("capture filter not replaced; opening the capture anew", "capture", w.key, "err", err)
				}
				d.feeds.stop(w.key)
				d.feeds.start(w, nil)
				d.log.Info("capture reopened for the new ports", "capture", w.key)
			}
		}
	}
}

// retire takes a backend no event uses any more out of service: it stops
// guarding any port (doors it opened close by their own timeouts), and is
// closed at exit, once queued doors no longer need it.
func (d *daemon) retire(b firewall.Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Reconcile(ctx, nil); err != nil {
		d.log.Error("reload: a firewall no longer used still guards its ports", "firewall", b.Name(), "err", err, "hint", "sesamed --cleanup with the previous configuration removes it")
	} else {
		d.log.Info("reload: firewall no longer used; it guards no port now", "firewall", b.Name())
	}
	d.retired = append(d.retired, b)
}

// followInterfaces re-reads the interface list when every interface is
// captured (-i all), starting and stopping feeds as interfaces come and
// go.
func (d *daemon) followInterfaces() {
	g := d.gen
	if !g.all {
		return
	}
	names, err := everyInterface()
	if err != nil {
		d.log.Warn("cannot list the interfaces", "err", err)
		return
	}
	if slices.Equal(names, g.ifaces) {
		return
	}
	ws, err := wants(g.cfg, d.o.IPv4Only, names, g.spec)
	if err != nil {
		d.log.Warn("cannot follow the interfaces", "err", err)
		return
	}
	d.log.Info("interfaces changed", "interfaces", names)
	g.ifaces, g.wants = names, ws
	d.ifaces.Store(&names)
	d.applyWants(ws, nil)
	d.nudgeWatcher()
}

// nudgeWatcher asks the network watcher to read the addresses again.
func (d *daemon) nudgeWatcher() {
	select {
	case d.nudge <- struct{}{}:
	default: // one pending is enough
	}
}

// unreloadable lists what changed between a and b that only a restart
// applies.
func unreloadable(a, b *config.Config) []string {
	var out []string
	if a.Options.LogFile != b.Options.LogFile || a.Options.UseSyslog != b.Options.UseSyslog {
		out = append(out, "LogFile or UseSyslog")
	}
	if a.Options.PidFile != b.Options.PidFile {
		out = append(out, "PidFile")
	}
	if a.Options.StateDir != b.Options.StateDir {
		out = append(out, "StateDir")
	}
	return out
}
