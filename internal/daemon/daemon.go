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
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/door"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/replay"
	"github.com/sesame-knock/sesame/internal/seq"
)

// Options are the daemon's command-line settings; they override the
// configuration file's [options] where both say something.
type Options struct {
	Interfaces []string // -i, repeatable
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
	// Hangup delivers SIGHUP. Reloading is not built yet: the daemon logs
	// that it keeps its configuration, instead of dying and losing the
	// pending stop commands.
	Hangup <-chan os.Signal
	// StopTimeout bounds how long shutdown waits for stop commands.
	StopTimeout time.Duration
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

	if len(cfg.Events) == 0 {
		return ErrNoEvents
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w) // what --check warns about, so it is seen without --check too
	}
	// Only a source that reads interfaces checks a hit's destination
	// against their addresses (see sniffs).
	sniff := sniffs(cfg)
	if !sniff && len(o.Interfaces) > 0 {
		log.Warn("-i is ignored: no capture reads interfaces (Capture is not afpacket)", "interfaces", o.Interfaces, "capture", config.FormatCapture(cfg.Options.Capture))
	}
	var ifaces []string
	if sniff {
		if ifaces, err = interfaces(cfg, o); err != nil {
			return err
		}
	}

	onetime := make([]Sequencer, len(cfg.Events))
	for i, ev := range cfg.Events {
		if ev.OneTimeFile == "" {
			continue
		}
		ot, err := seq.Open(ev.OneTimeFile)
		if err != nil {
			return fmt.Errorf("event %s: failed to open one-time sequences: %w", ev.Name, err)
		}
		if _, ok := ot.Current(); !ok {
			log.Warn("one-time sequences exhausted: event disabled", "event", ev.Name, "file", ev.OneTimeFile)
		}
		onetime[i] = ot
	}

	keys, err := LoadKeys(cfg)
	if err != nil {
		return err
	}
	if _, _, _, err := buildLanes(cfg.Events, keys, time.Now()); err != nil {
		return err // too many TOTP clients: say so before anything starts
	}
	for i, ev := range cfg.Events {
		if ev.TOTP != nil && len(keys.TOTP[i].Clients) == 0 {
			log.Warn("TOTP event has no clients yet: nobody can knock it until one is enrolled", "event", ev.Name, "file", ev.TOTP.SecretFile, "hint", "sesamed --enroll CLIENT --event "+ev.Name)
		}
	}
	var cache *replay.Cache
	if needsReplayCache(cfg) {
		if cache, err = openReplayCache(cfg); err != nil {
			return err
		}
		defer cache.Close()
	}

	// Open every capture before doing anything else.
	spec := filterSpec(cfg, onetime)
	feeds, err := openFeeds(cfg, o, ifaces, spec)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			for _, f := range feeds {
				f.src.Close()
			}
		}
	}()
	var local []netip.Addr
	if sniff {
		if local, err = localAddrs(ifaces); err != nil {
			return fmt.Errorf("failed to read the interfaces' addresses: %w", err)
		}
	}

	// Native doors: the firewall must hold what the configuration asks for
	// before the first knock is matched; a firewall that refuses stops
	// start-up here, with the backend's own advice.
	fws, err := openFirewalls(cfg)
	if err != nil {
		return err
	}
	defer fws.Close()
	rctx, cancelReconcile := context.WithTimeout(ctx, 30*time.Second)
	err = fws.reconcile(rctx)
	cancelReconcile()
	if err != nil {
		return err
	}
	for _, note := range fws.notes() {
		log.Warn(note)
	}

	pidFile := cfg.Options.PidFile
	if o.PidFile != "" {
		pidFile = o.PidFile
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("failed to write pid file: %w", err)
		}
		defer os.Remove(pidFile)
	}

	clk := clock.Real{}
	runner := door.NewRunner(door.Options{Clock: clk, Logger: log})
	native := door.NewNative(log, fws.pick)
	ecfg := engineConfig{
		Events: cfg.Events, OneTime: onetime, Keys: keys, Door: doors{cmds: runner, native: native}, Log: log, Clock: clk,
		ScanGuard: cfg.Options.ScanGuard, Budget: cfg.Options.MaxAttempts,
		IPv4Only: o.IPv4Only, Lookup: o.Lookup,
	}
	if cache != nil {
		ecfg.Replay = cache
	}
	eng, err := newEngine(ecfg)
	if err != nil {
		return err
	}
	if sniff {
		eng.setLocal(local)
	}

	capCtx, stopCapture := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runFeed(capCtx, log, f, eng)
		}()
	}
	if sniff {
		wg.Add(1)
		go func() {
			defer wg.Done()
			followAddrs(capCtx, log, ifaces, eng, local)
		}()
		if len(local) == 0 {
			log.Warn("no address on the capture interfaces: knocks are ignored until one is added", "interfaces", ifaces)
		}
	}
	names := make([]string, len(feeds))
	for i, f := range feeds {
		names[i] = f.src.Name()
	}
	log.Info("ready", "capture", names, "events", len(cfg.Events), "local", local, "scan_guard", cfg.Options.ScanGuard && cfg.Options.SeesProbes())
	if o.Ready != nil {
		o.Ready()
	}

	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-o.Hangup:
			log.Warn("SIGHUP: reloading is not supported yet; still running with the configuration read at start", "config", cfg.Source)
		}
	}
	log.Info("shutting down", "pending_stops", runner.Pending())
	stopCapture()
	wg.Wait()
	eng.close()
	native.Close()
	stopTimeout := o.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := runner.Close(sctx); err != nil {
		log.Error("stop commands did not all finish", "err", err)
	}
	log.Info("stopped")
	return nil
}

// interfaces picks the interfaces to capture on: -i flags, else the
// configuration's Interface, else the interface of the default route.
func interfaces(cfg *config.Config, o Options) ([]string, error) {
	switch {
	case len(o.Interfaces) > 0:
		return dedupe(o.Interfaces), nil
	case len(cfg.Options.Interfaces) > 0:
		return dedupe(cfg.Options.Interfaces), nil
	}
	name, err := capture.DefaultRouteInterface()
	if err != nil {
		return nil, fmt.Errorf("no interface given and %w (use -i IFACE)", err)
	}
	return []string{name}, nil
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
