package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sesame-knock/sesame/internal/capture"
)

// feeds runs the capture sources. Each runs on a goroutine of its own
// that owns it (capture.Source's contract); if it fails — an interface
// went down or away, a socket broke — that goroutine logs, and opens it
// again when the network changes (a link event) or at the latest every
// second, instead of taking the daemon down with it. A source that ends by
// nature (a pcap file) is not reopened. A reload changes the set: sources
// the new configuration does not want stop, new ones start, and a source
// whose ports changed gets the new filter (Refilterer) or is opened anew.
type feeds struct {
	log  *slog.Logger
	sink capture.Sink
	ctx  context.Context
	wg   sync.WaitGroup

	mu   sync.Mutex // guards running and each feed's spec and src
	run  map[string]*feed
	kick chan struct{} // closed and replaced on every link change
}

// feed is one running source.
type feed struct {
	w      want // w.spec is the filter it should have now
	src    capture.Source
	cancel context.CancelFunc
	done   chan struct{}
}

func newFeeds(ctx context.Context, log *slog.Logger, sink capture.Sink) *feeds {
	return &feeds{log: log, sink: sink, ctx: ctx, run: map[string]*feed{}, kick: make(chan struct{})}
}

// openAll opens every source of ws, or none: on error it closes those it
// opened. It is how start-up and a reload check that the sources they
// need can be had before anything changes.
func openAll(ws []want) (map[string]capture.Source, error) {
	opened := map[string]capture.Source{}
	for _, w := range ws {
		s, err := w.open(w.spec)
		if err != nil {
			closeAll(opened)
			return nil, err
		}
		opened[w.key] = s
	}
	return opened, nil
}

func closeAll(srcs map[string]capture.Source) {
	for _, s := range srcs {
		s.Close()
	}
}

// start runs src (opened from w; nil to have the feed open it itself,
// retrying until it can).
func (f *feeds) start(w want, src capture.Source) {
	ctx, cancel := context.WithCancel(f.ctx)
	fd := &feed{w: w, src: src, cancel: cancel, done: make(chan struct{})}
	f.mu.Lock()
	f.run[w.key] = fd
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(fd.done)
		f.loop(ctx, fd)
	}()
}

// stop ends the feed of key and waits until its source is released.
func (f *feeds) stop(key string) {
	f.mu.Lock()
	fd := f.run[key]
	delete(f.run, key)
	f.mu.Unlock()
	if fd != nil {
		fd.cancel()
		<-fd.done
	}
}

// wait waits for every feed to end (after the context given to newFeeds
// is cancelled).
func (f *feeds) wait() { f.wg.Wait() }

// keys returns the keys of the running feeds.
func (f *feeds) keys() map[string]want {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]want, len(f.run))
	for k, fd := range f.run {
		out[k] = fd.w
	}
	return out
}

// names lists what the running sources read, for the ready line.
func (f *feeds) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, fd := range f.run {
		out = append(out, fd.w.key)
	}
	return out
}

// stats returns each running source's counters, by key.
func (f *feeds) stats() map[string]capture.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]capture.Stats, len(f.run))
	for k, fd := range f.run {
		if fd.src != nil {
			out[k] = fd.src.Stats()
		}
	}
	return out
}

// refilter gives the feed of key a new filter: on the live source when it
// can swap filters, and for every later reopen. It reports false when the
// source cannot swap its filter (the caller then opens it anew).
func (f *feeds) refilter(key string, spec capture.FilterSpec) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := f.run[key]
	if fd == nil {
		return false, nil
	}
	if fd.src != nil {
		r, ok := fd.src.(capture.Refilterer)
		if !ok {
			return false, nil
		}
		if err := r.Refilter(spec); err != nil {
			return false, err
		}
	}
	fd.w.spec = spec
	return true, nil
}

// linksChanged wakes every feed waiting to reopen its source.
func (f *feeds) linksChanged() {
	f.mu.Lock()
	close(f.kick)
	f.kick = make(chan struct{})
	f.mu.Unlock()
}

func (f *feeds) loop(ctx context.Context, fd *feed) {
	key := fd.w.key
	fresh := true // a feed started without a source tries to open it at once
	for {
		f.mu.Lock()
		s := fd.src
		f.mu.Unlock()
		if s == nil {
			if s = f.reopen(ctx, fd, fresh); s == nil {
				return // ctx ended
			}
		}
		fresh = false
		err := s.Run(ctx, f.sink)
		st := s.Stats()
		f.log.Info("capture stats", "capture", s.Name(), "packets", st.Packets, "drops", st.Drops, "undecodable", st.Undecodable)
		f.mu.Lock()
		fd.src = nil
		f.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if e, ok := s.(capture.Ender); ok && e.Ends() {
			// A replayed file is read once: at its end, or at a record
			// that cannot be read, it is done.
			if err != nil {
				f.log.Error("capture finished early", "capture", key, "err", err)
			} else {
				f.log.Info("capture finished", "capture", key)
			}
			return
		}
		f.log.Error("capture stopped; will reopen", "capture", key, "err", err)
	}
}

// reopen opens fd's source when the network changes, or every second,
// until it succeeds (and returns it) or ctx ends (nil). It tries at once
// only when now is set: after a failure it waits, so a source that fails
// as soon as it runs costs one try per link event or second, not a loop.
func (f *feeds) reopen(ctx context.Context, fd *feed, now bool) capture.Source {
	warned := false
	for first := now; ; first = false {
		f.mu.Lock()
		kick := f.kick
		spec := fd.w.spec
		f.mu.Unlock()
		if !first {
			select {
			case <-ctx.Done():
				return nil
			case <-kick:
				// A link came up or went away: try at once.
			case <-time.After(time.Second):
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if fd.w.up != nil && !fd.w.up() {
			continue // wait for the link to come up
		}
		s, err := fd.w.open(spec)
		if err != nil {
			// Once at warning level, then quietly: an interface that is
			// away for an hour is not an hour of warnings.
			lvl := slog.LevelDebug
			if !warned {
				lvl, warned = slog.LevelWarn, true
			}
			f.log.Log(ctx, lvl, "capture cannot be reopened yet; trying again when the network changes", "capture", fd.w.key, "err", err)
			continue
		}
		f.mu.Lock()
		stale := !sameSpec(spec, fd.w.spec) // a reload changed it meanwhile
		fd.src = s
		f.mu.Unlock()
		if stale {
			if r, ok := s.(capture.Refilterer); ok {
				f.mu.Lock()
				err = r.Refilter(fd.w.spec)
				f.mu.Unlock()
			}
			if err != nil {
				f.log.Error("capture reopened with its previous filter", "capture", fd.w.key, "err", err)
			}
		}
		f.log.Info("capture reopened", "capture", fd.w.key)
		return s
	}
}
