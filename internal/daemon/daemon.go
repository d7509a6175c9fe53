// Package daemon wires the road a hit travels — capture → decode → match →
// door — for sesamed, and owns the daemon's lifecycle: it opens every
// capture before it reports ready (so a bad interface stops start-up, the
// daemon never half-starts), and on shutdown it stops capturing first and
// then runs every pending stop command, so no open door is left behind.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/door"
	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/metrics"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/privilege"
	"github.com/sesame-knock/sesame/internal/replay"
	"github.com/sesame-knock/sesame/internal/sdnotify"
)

// Options are the daemon's command-line settings; they override the
// configuration file's [options] where both say something.
type Options struct {
	Interfaces []string // -i, repeatable; "all" for every interface
	Verbose    bool     // -v
	Debug      bool     // -D
	Lookup     bool     // -l
	IPv4Only   bool     // -4
	PidFile    string   // -p
	LogFile    string   // -g
	JSON       bool     // --log-format json
	Stderr     io.Writer
	// Ready, if set, is called once every capture is open.
	Ready func()
	// Hangup delivers SIGHUP: the configuration is loaded again with
	// Reload and, if it is valid, replaces the running one.
	Hangup <-chan os.Signal
	// Reload loads the configuration again from where it came from; nil
	// means the daemon cannot reload (SIGHUP is then only logged).
	Reload func() (*config.Config, error)
	// StopTimeout bounds how long shutdown waits for stop commands.
	StopTimeout time.Duration
	// ControlSocket is where sesamed --status asks for the counters
	// ("": control.DefaultSocket; NoControlSocket: none).
	ControlSocket string
	// MetricsListen, when set, serves the counters for Prometheus (a
	// build with -tags prometheus).
	MetricsListen string
	// Version is reported by --status and the metrics.
	Version string
	// KeepPrivileges keeps every capability the process has (tests that
	// run the daemon inside the test binary).
	KeepPrivileges bool
}

// daemon is one run of sesamed: what lives as long as the process (the
// log, the door runners, the engine and its attempts, the capture feeds)
// and the generation of the configuration now in force.
type daemon struct {
	o      Options
	log    *slog.Logger
	gen    *generation
	eng    *engine
	runner *door.Runner
	native *door.Native
	feeds  *feeds
	cache  *replay.Cache // opened by the first generation that needs it
	// retired are firewall backends no generation uses any more; they are
	// closed at exit, after the native door queue has drained.
	retired []firewall.Backend
	// ifaces are the interfaces AF_PACKET reads now (for the address
	// watcher, which runs on its own goroutine).
	ifaces atomic.Pointer[[]string]
	sniff  atomic.Bool // hits are checked against the interfaces' addresses
	// nudge asks the watcher, which alone keeps the engine's local
	// addresses current, to read them again (the interfaces changed).
	nudge chan struct{}
	// dropped says the daemon gave up all capabilities but kept.
	dropped bool
	kept    privilege.Set

	stats   *metrics.Counters
	open    *metrics.OpenDoors     // native doors, until their timeouts
	source  atomic.Pointer[string] // where the configuration in force came from
	started time.Time
}

// Run runs the daemon until ctx is cancelled.
func Run(ctx context.Context, cfg *config.Config, o Options) (err error) {
	logFile := cfg.Options.LogFile
	if o.LogFile != "" {
		logFile = o.LogFile
	}
	log, logCloser, err := newLogger(LogOptions{
		Verbose: o.Verbose, Debug: o.Debug, JSON: o.JSON,
		Stderr: o.Stderr, File: logFile, Syslog: cfg.Options.UseSyslog,
	})
	if err != nil {
		return err
	}
	defer logCloser.Close()
	d := &daemon{o: o, log: log, stats: new(metrics.Counters), open: metrics.NewOpenDoors(0), started: time.Now()}
	defer func() {
		if d.cache != nil {
			d.cache.Close()
		}
	}()

	// Everything the configuration asks for is checked and set up before
	// the daemon says it is ready: it never half-starts.
	gen, err := d.prepare(ctx, cfg, nil)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w) // what --check warns about, so it is seen without --check too
	}
	if !gen.sniff && len(o.Interfaces) > 0 {
		log.Warn("-i is ignored: no capture reads interfaces (Capture is not afpacket)", "interfaces", o.Interfaces, "capture", config.FormatCapture(cfg.Options.Capture))
	}
	opened, err := openAll(gen.wants)
	if err != nil {
		gen.discard(nil)
		return err
	}
	var local []netip.Addr
	if gen.sniff {
		if local, err = localAddrs(gen.ifaces); err != nil {
			closeAll(opened)
			gen.discard(nil)
			return fmt.Errorf("failed to read the interfaces' addresses: %w", err)
		}
	}
	// The firewall last: a start that fails before here changed nothing
	// on the host.
	if err := d.applyFirewall(ctx, gen, nil); err != nil {
		closeAll(opened)
		gen.discard(nil)
		return err
	}
	pidFile := cfg.Options.PidFile
	if pidFile != "" && o.PidFile == "" && underSystemd() {
		// knockd.conf's PidFile is for init scripts; systemd knows the
		// pid, and its unit keeps /run read-only.
		log.Info("PidFile not written: running under systemd", "pidfile", pidFile)
		pidFile = ""
	}
	if o.PidFile != "" {
		pidFile = o.PidFile
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			closeAll(opened)
			gen.discard(nil)
			return fmt.Errorf("failed to write pid file: %w", err)
		}
		defer os.Remove(pidFile)
	}

	clk := clock.Real{}
	d.runner = door.NewRunner(door.Options{Clock: clk, Logger: log})
	d.native = door.NewNative(log, nil)
	d.eng, err = newEngine(d.engineConfig(gen, clk))
	if err != nil {
		d.native.Close()
		closeAll(opened)
		gen.discard(nil)
		return err
	}
	d.gen = gen
	d.source.Store(&cfg.Source)
	if gen.sniff {
		d.eng.setLocal(local)
	}
	d.ifaces.Store(&gen.ifaces)
	d.sniff.Store(gen.sniff)

	capCtx, stopCapture := context.WithCancel(ctx)
	d.feeds = newFeeds(capCtx, log, d.eng)
	for _, w := range gen.wants {
		d.feeds.start(w, opened[w.key])
	}
	links := make(chan struct{}, 1)
	d.nudge = make(chan struct{}, 1)
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		d.watchNetwork(capCtx, local, links, d.nudge)
	}()
	if err := d.serveObservers(capCtx, &watchWG); err != nil {
		d.stopRunning(stopCapture, &watchWG)
		return err
	}
	if gen.sniff && len(local) == 0 {
		log.Warn("no address on the capture interfaces: knocks are ignored until one is added", "interfaces", gen.ifaces)
	}
	names := d.feeds.names()
	slices.Sort(names)
	if !o.KeepPrivileges {
		d.dropped, d.kept = dropPrivileges(log, cfg, gen.spec)
	}
	log.Info("ready", "capture", names, "events", len(cfg.Events), "local", local, "scan_guard", cfg.Options.ScanGuard && cfg.Options.SeesProbes())
	if o.Ready != nil {
		o.Ready()
	}
	notify(log, "READY", sdnotify.Ready)
	status(log, "ready: %d events from %s", len(cfg.Events), cfg.Source)

	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-o.Hangup:
			notify(log, "RELOADING", sdnotify.Reloading)
			d.reload(ctx)
			notify(log, "READY", sdnotify.Ready)
		case <-links:
			d.followInterfaces()
		}
	}
	notify(log, "STOPPING", sdnotify.Stopping)
	status(log, "stopping: %d stop commands to run", d.runner.Pending())
	log.Info("shutting down", "pending_stops", d.runner.Pending())
	d.stopRunning(stopCapture, &watchWG)
	for _, b := range d.retired {
		b.Close()
	}
	stopTimeout := o.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := d.runner.Close(sctx); err != nil {
		log.Error("stop commands did not all finish", "err", err)
	}
	log.Info("stopped")
	return nil
}

// stopRunning stops capturing, then matching, and releases the
// generation: no hit can reach a door after it.
func (d *daemon) stopRunning(stopCapture func(), watchers *sync.WaitGroup) {
	stopCapture()
	d.feeds.wait()
	watchers.Wait()
	d.eng.close()
	d.native.Close()
	d.gen.discard(nil)
}

// engineConfig is what the engine needs of a generation.
func (d *daemon) engineConfig(g *generation, clk clock.Clock) engineConfig {
	c := engineConfig{
		Events: g.cfg.Events, OneTime: g.onetime, Keys: g.keys,
		Door: doors{cmds: d.runner, native: d.native, fws: g.fws, open: d.open}, Log: d.log, Clock: clk, Stats: d.stats,
		ScanGuard: g.cfg.Options.ScanGuard, Budget: g.cfg.Options.MaxAttempts,
		IPv4Only: d.o.IPv4Only, Lookup: d.o.Lookup,
	}
	if d.cache != nil {
		c.Replay = d.cache
	}
	return c
}

// AllInterfaces, as -i or Interface, captures on every interface there
// is, following them as they come and go.
const AllInterfaces = "all"

// interfaces picks the interfaces to capture on: -i flags, else the
// configuration's Interface, else the interface of the default route.
// all reports that the choice is every interface (then names are those
// there are now).
func interfaces(cfg *config.Config, o Options) (names []string, all bool, err error) {
	switch {
	case len(o.Interfaces) > 0:
		names = dedupe(o.Interfaces)
	case len(cfg.Options.Interfaces) > 0:
		names = dedupe(cfg.Options.Interfaces)
	default:
		name, err := capture.DefaultRouteInterface()
		if err != nil {
			return nil, false, fmt.Errorf("no interface given and %w (use -i IFACE, or -i all)", err)
		}
		return []string{name}, false, nil
	}
	if !slices.Contains(names, AllInterfaces) {
		return names, false, nil
	}
	if len(names) > 1 {
		return nil, false, fmt.Errorf("interface %q means every interface: give it alone, not with %v", AllInterfaces, slices.DeleteFunc(names, func(n string) bool { return n == AllInterfaces }))
	}
	names, err = everyInterface()
	return names, true, err
}

// everyInterface lists the interfaces AF_PACKET can read now.
func everyInterface() ([]string, error) {
	list, err := capture.List()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, in := range list {
		if in.LinkErr == nil {
			names = append(names, in.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// filterSpec lists every port a sequence uses (static ones, and every line
// of one-time files, so the filter need not change as they advance).
func filterSpec(cfg *config.Config, onetime []Sequencer) capture.FilterSpec {
	spec := capture.FilterSpec{ScanGuard: cfg.Options.ScanGuard}
	add := func(els []config.Element) {
		for _, el := range els {
			switch el.Proto {
			case packet.TCP:
				spec.TCPPorts = append(spec.TCPPorts, el.Port)
			case packet.UDP:
				spec.UDPPorts = append(spec.UDPPorts, el.Port)
			}
		}
	}
	for i, ev := range cfg.Events {
		add(ev.Sequence)
		if t := ev.TOTP; t != nil {
			// The whole range, so the filter need not change every step.
			for p := int(t.Lo); p <= int(t.Hi); p++ {
				add([]config.Element{{Proto: t.Proto, Port: uint16(p)}})
			}
		}
		if c := ev.Cipher; c != nil {
			for p := int(c.Base); p < int(c.Base)+config.CipherWindow; p++ {
				add([]config.Element{{Proto: c.Proto, Port: uint16(p)}})
			}
		}
		if onetime[i] != nil {
			for _, s := range onetime[i].All() {
				add(s)
			}
		}
	}
	slices.Sort(spec.TCPPorts)
	spec.TCPPorts = slices.Compact(spec.TCPPorts)
	slices.Sort(spec.UDPPorts)
	spec.UDPPorts = slices.Compact(spec.UDPPorts)
	return spec
}

func needsReplayCache(cfg *config.Config) bool {
	for _, ev := range cfg.Events {
		if ev.TOTP != nil || ev.Cipher != nil {
			return true
		}
	}
	return false
}

// ReplayCacheFile is the replay cache's file in the state directory.
const ReplayCacheFile = "replay"

// openReplayCache opens the replay cache in StateDir, creating the
// directory (mode 0700) if needed.
func openReplayCache(cfg *config.Config) (*replay.Cache, error) {
	dir := cfg.Options.StateDir
	if dir == "" {
		dir = config.DefaultStateDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the state directory: %w", err)
	}
	c, err := replay.Open(filepath.Join(dir, ReplayCacheFile), time.Now(), replay.Options{})
	if err != nil {
		return nil, fmt.Errorf("failed to open the replay cache: %w", err)
	}
	return c, nil
}

// ErrNoEvents is returned for a configuration with nothing to listen for.
var ErrNoEvents = errors.New("the configuration defines no events")
