//go:build linux

package nftables

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/firewall"
)

const backendName = "nftables"

// Backend is the nftables firewall.Backend. Its methods are safe for
// concurrent use; they are serialised on the one netlink connection.
type Backend struct {
	cfg    Config
	family nft.TableFamily
	table  *nft.Table

	mu    sync.Mutex
	conn  *nft.Conn // nil after a failure: redialled by the next call
	notes []string
}

var _ firewall.Backend = (*Backend)(nil)

// New connects to nf_tables (in cfg.NetNSFd's namespace if set) and checks
// that it answers, so that a missing module or privilege is reported at
// start-up rather than at the first knock. It creates nothing: Reconcile
// does.
func New(cfg Config) (*Backend, error) {
	fam, err := cfg.validate()
	if err != nil {
		return nil, &firewall.Error{Backend: backendName, Op: "connect", Err: err}
	}
	b := &Backend{cfg: cfg, family: familyOf(fam)}
	name := TableName
	if cfg.Mode == SetOnly {
		name = cfg.Table
	}
	b.table = &nft.Table{Family: b.family, Name: name}
	if err := b.connect(); err != nil {
		return nil, classify("connect", err)
	}
	if _, err := b.conn.ListTablesOfFamily(b.family); err != nil {
		b.drop()
		return nil, classifyProbe(err)
	}
	return b, nil
}

// Available reports whether nf_tables answers netlink requests in the
// current network namespace (nil) or why not (a *firewall.Error with a
// hint), so the daemon can pick its default backend.
func Available() error {
	c, err := nft.New(nft.AsLasting())
	if err != nil {
		return classify("connect", err)
	}
	defer c.CloseLasting()
	if _, err := c.ListTablesOfFamily(nft.TableFamilyINet); err != nil {
		return classifyProbe(err)
	}
	return nil
}

func familyOf(s string) nft.TableFamily {
	switch s {
	case "ip":
		return nft.TableFamilyIPv4
	case "ip6":
		return nft.TableFamilyIPv6
	}
	return nft.TableFamilyINet
}

func familyName(f nft.TableFamily) string {
	switch f {
	case nft.TableFamilyIPv4:
		return "ip"
	case nft.TableFamilyIPv6:
		return "ip6"
	}
	return "inet"
}

// Name is "nftables".
func (b *Backend) Name() string { return backendName }

// Mode is the backend's mode.
func (b *Backend) Mode() Mode { return b.cfg.Mode }

// Notes returns what the last Reconcile changed that an administrator
// should hear about (a door set of an older layout recreated, a chain
// replaced); nil if nothing.
func (b *Backend) Notes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.notes)
}

// Close closes the netlink connection; the doors stay open until their
// timeouts, and sesame's table or sets stay in place.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drop()
	return nil
}

func (b *Backend) connect() error {
	if b.conn != nil {
		return nil
	}
	opts := []nft.ConnOption{nft.AsLasting()}
	if b.cfg.NetNSFd != 0 {
		opts = append(opts, nft.WithNetNSFd(b.cfg.NetNSFd))
	}
	if b.cfg.testDial != nil {
		opts = append(opts, nft.WithTestDial(b.cfg.testDial))
	}
	c, err := nft.New(opts...)
	if err != nil {
		return err
	}
	b.conn = c
	return nil
}

// drop forgets the connection. After any failure the socket may still hold
// replies to the failed request, and the nft.Conn may hold unsent
// messages, so neither is reused.
func (b *Backend) drop() {
	if b.conn != nil {
		_ = b.conn.CloseLasting()
		b.conn = nil
	}
}

// begin starts an operation, with b.mu held: checks ctx and makes sure
// there is a connection.
func (b *Backend) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.connect()
}

// state is what the kernel holds of ours.
type state struct {
	table bool
	sets  map[string]*nft.Set
	chain *nft.Chain
}

func (b *Backend) observe() (*state, error) {
	st := &state{sets: map[string]*nft.Set{}}
	tables, err := b.conn.ListTablesOfFamily(b.family)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == b.table.Name && t.Family == b.family {
			st.table = true
		}
	}
	if !st.table {
		return st, nil
	}
	sets, err := b.conn.GetSets(b.table)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		st.sets[s.Name] = s
	}
	if b.cfg.Mode == Guard {
		chains, err := b.conn.ListChainsOfTableFamily(b.family)
		if err != nil {
			return nil, fmt.Errorf("list chains: %w", err)
		}
		for _, c := range chains {
			if c.Table != nil && c.Table.Name == b.table.Name && c.Name == ChainName {
				st.chain = c
			}
		}
	}
	return st, nil
}

func (b *Backend) tableText() string { return familyName(b.family) + " " + b.table.Name }

// Reconcile creates what is missing and, in guard mode, sets the guarded
// ports and the chain's rules, in one atomic batch. Doors already open are
// kept.
func (b *Backend) Reconcile(ctx context.Context, guarded []firewall.Port) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(ctx); err != nil {
		return classify("reconcile", err)
	}
	b.notes = nil
	err := b.reconcile(guarded)
	if err != nil {
		b.drop()
		return classify("reconcile", err)
	}
	return nil
}

func (b *Backend) reconcile(guarded []firewall.Port) error {
	st, err := b.observe()
	if err != nil {
		return err
	}
	c := b.conn
	if b.cfg.Mode == SetOnly {
		if !st.table {
			return &firewall.Error{Backend: backendName, Op: "reconcile",
				Err:  fmt.Errorf("table %s does not exist", b.tableText()),
				Hint: "create it first (nft add table " + b.tableText() + ") and reference @" + SetV4 + " and @" + SetV6 + " in its rules"}
		}
	} else {
		c.AddTable(b.table)
	}

	var chain *nft.Chain
	if b.cfg.Mode == Guard {
		chain = inputChain(b.table)
		switch {
		case st.chain == nil:
			c.AddChain(chain)
		case sameChain(st.chain, chain):
			c.FlushChain(chain)
		default:
			c.FlushChain(st.chain)
			c.DelChain(st.chain)
			c.AddChain(chain)
			b.notes = append(b.notes, fmt.Sprintf("replaced chain %s %s: it had an older hook, priority or policy", b.tableText(), ChainName))
		}
	}

	for _, name := range []string{SetV4, SetV6} {
		want := doorSet(b.table, name)
		have := st.sets[name]
		switch {
		case have == nil:
		case sameSetType(have, want):
			continue
		default:
			c.DelSet(have)
			b.notes = append(b.notes, fmt.Sprintf("recreated set %s %s: it had type %q, not %q; the doors in it were closed",
				b.tableText(), name, have.KeyType.Name, want.KeyType.Name))
		}
		if err := c.AddSet(want, nil); err != nil {
			return err
		}
	}

	if b.cfg.Mode == Guard {
		// A constant set cannot change while a rule uses it, but the
		// rules were flushed above, in the same batch.
		if have := st.sets[GuardedSet]; have != nil {
			c.DelSet(have)
		}
		if err := c.AddSet(guardedSet(b.table), guardedElements(guarded)); err != nil {
			return err
		}
		for _, r := range guardRules(b.table, chain) {
			c.AddRule(r)
		}
	}
	if err := c.Flush(); err != nil {
		if b.cfg.Mode == SetOnly && errors.Is(err, unix.EBUSY) {
			return &firewall.Error{Backend: backendName, Op: "reconcile", Err: err,
				Hint: "a door set in table " + b.tableText() + " has an older type and the table's rules still use it: delete those rules, or the set, and start again"}
		}
		return err
	}
	return nil
}

// Open admits every door's source to its ports until the door's timeout,
// in one batch: for each set, add (creates missing elements), delete, add
// with the new timeout, so an open door gets its timeout refreshed and is
// never duplicated.
func (b *Backend) Open(ctx context.Context, doors []firewall.Door) error {
	var v4, v6 elems
	for _, d := range doors {
		if !d.Src.IsValid() {
			return classify("open", errors.New("door without a source address"))
		}
		if d.Timeout < time.Millisecond {
			// A zero timeout would make the element permanent.
			return classify("open", fmt.Errorf("door for %s: timeout %v is below 1ms", d.Src, d.Timeout))
		}
		src := d.Src.Unmap()
		for _, p := range d.Ports {
			if src.Is4() {
				v4.add(doorKey(src, p), d.Timeout)
			} else {
				v6.add(doorKey(src, p), d.Timeout)
			}
		}
	}
	if len(v4.list) == 0 && len(v6.list) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(ctx); err != nil {
		return classify("open", err)
	}
	if err := b.open(v4.list, v6.list); err != nil {
		b.drop()
		return classify("open", err)
	}
	return nil
}

func (b *Backend) open(v4, v6 []nft.SetElement) error {
	c := b.conn
	for _, s := range []struct {
		name string
		els  []nft.SetElement
	}{{SetV4, v4}, {SetV6, v6}} {
		if len(s.els) == 0 {
			continue
		}
		set := doorSet(b.table, s.name)
		keys := make([]nft.SetElement, len(s.els))
		for i, e := range s.els {
			keys[i] = nft.SetElement{Key: e.Key}
		}
		if err := c.SetAddElements(set, s.els); err != nil {
			return err
		}
		if err := c.SetDeleteElements(set, keys); err != nil {
			return err
		}
		if err := c.SetAddElements(set, s.els); err != nil {
			return err
		}
	}
	return c.Flush()
}

// elems collects a batch's elements without duplicates (a delete of the
// same key twice would fail the batch); a key given twice keeps the longer
// timeout.
type elems struct {
	list []nft.SetElement
	idx  map[string]int
}

func (e *elems) add(key []byte, timeout time.Duration) {
	if i, ok := e.idx[string(key)]; ok {
		e.list[i].Timeout = max(e.list[i].Timeout, timeout)
		return
	}
	if e.idx == nil {
		e.idx = map[string]int{}
	}
	e.idx[string(key)] = len(e.list)
	e.list = append(e.list, nft.SetElement{Key: key, Timeout: timeout})
}

// List returns the open doors with the time they have left, sorted by
// source, protocol and port.
func (b *Backend) List(ctx context.Context) ([]firewall.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(ctx); err != nil {
		return nil, classify("list", err)
	}
	var out []firewall.Entry
	for _, name := range []string{SetV4, SetV6} {
		els, err := b.conn.GetSetElements(doorSet(b.table, name))
		if err != nil {
			b.drop()
			return nil, classify("list", fmt.Errorf("set %s %s: %w", b.tableText(), name, err))
		}
		for _, e := range els {
			src, p, ok := parseDoorKey(e.Key)
			if !ok {
				continue
			}
			out = append(out, firewall.Entry{Src: src, Port: p, Expires: e.Expires})
		}
	}
	slices.SortFunc(out, func(a, b firewall.Entry) int {
		return cmp.Or(a.Src.Compare(b.Src), cmp.Compare(a.Port.Proto, b.Port.Proto), cmp.Compare(a.Port.Port, b.Port.Port))
	})
	return out, nil
}

// Cleanup removes what sesame created: guard mode deletes table inet
// sesame (its doors close), set mode deletes the two door sets, which the
// kernel refuses while the administrator's rules reference them.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(ctx); err != nil {
		return classify("cleanup", err)
	}
	if err := b.cleanup(); err != nil {
		b.drop()
		return classify("cleanup", err)
	}
	return nil
}

func (b *Backend) cleanup() error {
	st, err := b.observe()
	if err != nil || !st.table {
		return err
	}
	c := b.conn
	if b.cfg.Mode == Guard {
		c.DelTable(b.table)
		return c.Flush()
	}
	for _, name := range []string{SetV4, SetV6} {
		if s := st.sets[name]; s != nil {
			c.DelSet(s)
		}
	}
	err = c.Flush()
	if errors.Is(err, unix.EBUSY) {
		return &firewall.Error{Backend: backendName, Op: "cleanup", Err: err,
			Hint: "rules in table " + b.tableText() + " still reference @" + SetV4 + " or @" + SetV6 + ": delete those rules first"}
	}
	return err
}

// classify wraps err in a *firewall.Error with a hint for the errors an
// administrator can fix.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var fe *firewall.Error
	if errors.As(err, &fe) {
		return err
	}
	return &firewall.Error{Backend: backendName, Op: op, Err: err, Hint: hint(err)}
}

// classifyProbe is classify for the probe (a table dump), where EINVAL
// means that nfnetlink has no nf_tables subsystem to pass the request to.
func classifyProbe(err error) error {
	if errors.Is(err, unix.EINVAL) {
		return &firewall.Error{Backend: backendName, Op: "connect", Err: err, Hint: moduleHint}
	}
	return classify("connect", err)
}

const moduleHint = "load the nf_tables module (modprobe nf_tables) or use Firewall = iptables"

func hint(err error) string {
	// Some of google/nftables' errors are formatted with %v, which drops
	// the errno; the text is the fallback.
	msg := err.Error()
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES),
		strings.Contains(msg, unix.EPERM.Error()):
		return "run as root or with CAP_NET_ADMIN"
	case errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EPROTONOSUPPORT),
		errors.Is(err, unix.EOPNOTSUPP),
		strings.Contains(msg, unix.EAFNOSUPPORT.Error()), strings.Contains(msg, unix.EPROTONOSUPPORT.Error()):
		return moduleHint
	case errors.Is(err, unix.ENOENT), strings.Contains(msg, unix.ENOENT.Error()):
		return "sesame's table or sets are missing: was Reconcile run (or the table deleted by hand)?"
	}
	return ""
}
