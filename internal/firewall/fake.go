package firewall

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Fake is an in-memory Backend that records what it is asked, for tests
// of the code above the firewall. Its doors expire by the clock it is
// given (Now), so tests drive expiry without sleeping.
type Fake struct {
	Now func() time.Time // default time.Now

	mu        sync.Mutex
	guarded   []Port
	doors     map[fakeKey]time.Time // expiry
	calls     []string
	opens     [][]Door
	FailOpen  error // returned by Open when set
	FailSetup error // returned by Reconcile when set
	closed    bool
}

type fakeKey struct {
	src  netip.Addr
	port Port
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fake) Name() string { return "fake" }

func (f *Fake) Reconcile(_ context.Context, guarded []Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "reconcile")
	if f.FailSetup != nil {
		return &Error{Backend: "fake", Op: "reconcile", Err: f.FailSetup}
	}
	f.guarded = slices.Clone(guarded)
	if f.doors == nil {
		f.doors = map[fakeKey]time.Time{}
	}
	return nil
}

func (f *Fake) Open(_ context.Context, doors []Door) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "open")
	if f.FailOpen != nil {
		return &Error{Backend: "fake", Op: "open", Err: f.FailOpen}
	}
	if f.doors == nil {
		f.doors = map[fakeKey]time.Time{}
	}
	cp := make([]Door, len(doors))
	for i, d := range doors {
		cp[i] = Door{Src: d.Src, Ports: slices.Clone(d.Ports), Timeout: d.Timeout}
		for _, p := range d.Ports {
			f.doors[fakeKey{d.Src, p}] = f.now().Add(d.Timeout)
		}
	}
	f.opens = append(f.opens, cp)
	return nil
}

func (f *Fake) List(context.Context) ([]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listLocked(), nil
}

func (f *Fake) listLocked() []Entry {
	now := f.now()
	var out []Entry
	for k, exp := range f.doors {
		if !exp.After(now) {
			delete(f.doors, k)
			continue
		}
		out = append(out, Entry{Src: k.src, Port: k.port, Expires: exp.Sub(now)})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		return int(a.Port.Port) - int(b.Port.Port)
	})
	return out
}

func (f *Fake) Cleanup(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "cleanup")
	f.doors = nil
	f.guarded = nil
	return nil
}

func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Calls lists the methods called so far ("reconcile", "open", "cleanup").
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Opens returns the doors of every Open call, one slice per call.
func (f *Fake) Opens() [][]Door {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.opens)
}

// Guarded returns the ports of the last Reconcile.
func (f *Fake) Guarded() []Port {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.guarded)
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}
