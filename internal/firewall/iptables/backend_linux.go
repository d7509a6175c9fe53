package iptables

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	goipt "github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// Backend is the iptables + ipset backend. It is safe for concurrent use.
type Backend struct {
	cfg  Config
	mu   sync.Mutex
	nl   *netlink.Handle
	fams []*family // IPv4, then IPv6 if enabled
}

var _ firewall.Backend = (*Backend)(nil)

// family is one address family: its iptables binary and its set.
type family struct {
	name string // "iptables" or "ip6tables", for messages
	ipt  *goipt.IPTables
	set  string
	af   uint8 // unix.AF_INET or unix.AF_INET6
}

var errClosed = errors.New("backend is closed")

// netlinkTimeout bounds every ipset netlink exchange.
const netlinkTimeout = 5 * time.Second

// iptablesWait is how long an iptables command waits for the xtables lock.
const iptablesWait = 5

// New opens the backend: a netlink socket for ipset (probing that the
// kernel has ip_set and that we may use it) and the iptables binaries. It
// changes nothing in the firewall.
func New(cfg Config) (*Backend, error) {
	if cfg.NetNSFd < 0 {
		return nil, &firewall.Error{Backend: backendName, Op: "connect", Err: fmt.Errorf("invalid network namespace fd %d", cfg.NetNSFd)}
	}
	b := &Backend{cfg: cfg}
	var err error
	if cfg.NetNSFd != 0 {
		b.nl, err = netlink.NewHandleAt(netns.NsHandle(cfg.NetNSFd), unix.NETLINK_NETFILTER)
	} else {
		b.nl, err = netlink.NewHandle(unix.NETLINK_NETFILTER)
	}
	if err != nil {
		return nil, newError("connect", fmt.Errorf("failed to open netfilter netlink socket: %w", err))
	}
	if err := b.nl.SetSocketTimeout(netlinkTimeout); err != nil {
		b.nl.Close()
		return nil, newError("connect", err)
	}
	if err := safe(func() error { _, _, err := b.nl.IpsetProtocol(); return err }); err != nil {
		b.nl.Close()
		return nil, &firewall.Error{Backend: backendName, Op: "connect",
			Err:  fmt.Errorf("failed to reach ipset over netlink: %w", err),
			Hint: ipsetHint(err)}
	}
	type spec struct {
		name, path string
		proto      goipt.Protocol
		set        string
		af         uint8
	}
	specs := []spec{{"iptables", cfg.Path4, goipt.ProtocolIPv4, Set4, unix.AF_INET}}
	if cfg.IPv6 {
		specs = append(specs, spec{"ip6tables", cfg.Path6, goipt.ProtocolIPv6, Set6, unix.AF_INET6})
	}
	for _, s := range specs {
		var ipt *goipt.IPTables
		err := b.inNS(func() (err error) {
			if s.path == "" {
				ipt, err = goipt.New(goipt.IPFamily(s.proto), goipt.Timeout(iptablesWait))
			} else {
				ipt, err = goipt.New(goipt.IPFamily(s.proto), goipt.Timeout(iptablesWait), goipt.Path(s.path))
			}
			return err
		})
		if err != nil {
			b.nl.Close()
			return nil, newError("connect", fmt.Errorf("failed to find %s: %w", s.name, err))
		}
		b.fams = append(b.fams, &family{name: s.name, ipt: ipt, set: s.set, af: s.af})
	}
	return b, nil
}

// Name is "iptables".
func (b *Backend) Name() string { return backendName }

// Reconcile creates the sets if missing (keeping the entries of existing
// ones) and rebuilds SESAME for the guarded ports by build-and-swap (see
// the package comment).
func (b *Backend) Reconcile(ctx context.Context, guarded []firewall.Port) error {
	ports, err := normalize(guarded)
	if err != nil {
		return newError("reconcile", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nl == nil {
		return newError("reconcile", errClosed)
	}
	for _, f := range b.fams {
		if err := ctx.Err(); err != nil {
			return newError("reconcile", err)
		}
		if err := b.ensureSet(f); err != nil {
			return err
		}
		if err := b.inNS(func() error { return f.install(chainRules(f.set, ports)) }); err != nil {
			return newError("reconcile", err)
		}
	}
	return nil
}

// ensureSet creates f's set, or checks that the one there is sesame's.
func (b *Backend) ensureSet(f *family) error {
	var res *netlink.IPSetResult
	err := safe(func() (err error) { res, err = b.nl.IpsetList(f.set); return err })
	switch {
	case err == nil:
		if res.TypeName != setType || res.Family != f.af || res.Timeout == nil {
			return &firewall.Error{Backend: backendName, Op: "reconcile",
				Err:  fmt.Errorf("ipset %s exists but is %s family %d (timeout support %t), want %s family %s with timeouts", f.set, res.TypeName, res.Family, res.Timeout != nil, setType, familyName(f.af)),
				Hint: "remove it (ipset destroy " + f.set + ") if it is not in use"}
		}
		return nil
	case errors.Is(err, unix.ENOENT):
		timeout := uint32(defaultSetTimeout)
		err = safe(func() error {
			return b.nl.IpsetCreate(f.set, setType, netlink.IpsetCreateOptions{Family: f.af, Timeout: &timeout})
		})
		if err != nil {
			return &firewall.Error{Backend: backendName, Op: "reconcile",
				Err: fmt.Errorf("failed to create ipset %s: %w", f.set, err), Hint: ipsetHint(err)}
		}
		return nil
	default:
		return &firewall.Error{Backend: backendName, Op: "reconcile",
			Err: fmt.Errorf("failed to list ipset %s: %w", f.set, err), Hint: ipsetHint(err)}
	}
}

// install makes SESAME hold rules and INPUT jump to it once, at position 1.
func (f *family) install(rules [][]string) error {
	ipt := f.ipt
	chains, err := ipt.ListChains(table)
	if err != nil {
		return f.wrap("list chains", err)
	}
	hasMain := slices.Contains(chains, Chain)
	if slices.Contains(chains, stageChain) {
		// A swap was cut short. If the jump already moved to the
		// staging chain, that chain is the live one: finish the swap
		// (so the ports stay guarded). Otherwise drop it.
		input, err := ipt.List(table, inputChain)
		if err != nil {
			return f.wrap("list INPUT", err)
		}
		if plain, _, _ := jumpsTo(input, stageChain); plain > 0 {
			if hasMain {
				if err := f.removeChain(Chain); err != nil {
					return err
				}
			}
			if err := ipt.RenameChain(table, stageChain, Chain); err != nil {
				return f.wrap("rename "+stageChain, err)
			}
			hasMain = true
		} else if err := f.removeChain(stageChain); err != nil {
			return err
		}
	}

	// Build the new rules where no packet reaches them yet.
	if err := ipt.NewChain(table, stageChain); err != nil {
		return f.wrap("create chain "+stageChain, err)
	}
	for _, r := range rules {
		if err := ipt.Append(table, stageChain, r...); err != nil {
			return f.wrap("add rule "+strings.Join(r, " "), err)
		}
	}

	// Swap: one command moves INPUT's first rule to the new chain.
	input, err := ipt.List(table, inputChain)
	if err != nil {
		return f.wrap("list INPUT", err)
	}
	plain, other, first := jumpsTo(input, Chain)
	if other > 0 {
		return &firewall.Error{Backend: backendName, Op: "reconcile",
			Err:  fmt.Errorf("%s: INPUT has %d rule(s) with conditions that jump to %s", f.name, other, Chain),
			Hint: "remove them; sesame keeps a single unconditional jump"}
	}
	if first {
		err = ipt.Replace(table, inputChain, 1, "-j", stageChain)
		plain--
	} else {
		err = ipt.Insert(table, inputChain, 1, "-j", stageChain)
	}
	if err != nil {
		return f.wrap("jump to "+stageChain, err)
	}
	for range plain {
		if err := ipt.Delete(table, inputChain, "-j", Chain); err != nil {
			return f.wrap("delete jump to "+Chain, err)
		}
	}
	if hasMain {
		if err := ipt.ClearAndDeleteChain(table, Chain); err != nil {
			return f.wrap("delete chain "+Chain, err)
		}
	}
	if err := ipt.RenameChain(table, stageChain, Chain); err != nil {
		return f.wrap("rename "+stageChain+" to "+Chain, err)
	}
	return nil
}

// removeChain removes every plain jump from INPUT to chain, then chain.
func (f *family) removeChain(chain string) error {
	ipt := f.ipt
	ok, err := ipt.ChainExists(table, chain)
	if err != nil {
		return f.wrap("look for chain "+chain, err)
	}
	if !ok {
		return nil
	}
	input, err := ipt.List(table, inputChain)
	if err != nil {
		return f.wrap("list INPUT", err)
	}
	plain, _, _ := jumpsTo(input, chain)
	for range plain {
		if err := ipt.Delete(table, inputChain, "-j", chain); err != nil {
			return f.wrap("delete jump to "+chain, err)
		}
	}
	if err := ipt.ClearAndDeleteChain(table, chain); err != nil {
		return f.wrap("delete chain "+chain, err)
	}
	return nil
}

// wrap names the family and the step, and explains iptables' error.
func (f *family) wrap(step string, err error) error {
	return &stepError{msg: f.name + ": failed to " + step, err: err}
}

// stepError is an iptables step that failed; newError reads its hint.
type stepError struct {
	msg string
	err error
}

func (e *stepError) Error() string {
	msg := e.err.Error()
	var ie *goipt.Error
	if errors.As(e.err, &ie) {
		msg = strings.TrimSpace(ie.Error())
	}
	return e.msg + ": " + msg
}

func (e *stepError) Unwrap() error { return e.err }

// Open adds (or refreshes) one ipset entry per door and port. All doors
// are checked before any is written. Each entry is one atomic netlink
// command; a call with several entries is not one transaction (ipset has
// none), but a failure leaves only correct, timed entries behind.
func (b *Backend) Open(ctx context.Context, doors []firewall.Door) error {
	type add struct {
		set   string
		entry netlink.IPSetEntry
	}
	var adds []add
	for _, d := range doors {
		src := d.Src.Unmap()
		if !src.IsValid() {
			return newError("open", errors.New("door with no source address"))
		}
		f := b.family(src)
		if f == nil {
			return &firewall.Error{Backend: backendName, Op: "open",
				Err: fmt.Errorf("cannot open a door for %s: IPv6 is not managed", src), Hint: "enable IPv6 in the iptables backend"}
		}
		timeout, err := timeoutSeconds(d)
		if err != nil {
			return newError("open", err)
		}
		for _, p := range d.Ports {
			if p.Proto != packet.TCP && p.Proto != packet.UDP || p.Port == 0 {
				return newError("open", fmt.Errorf("cannot open %s for %s: only tcp and udp ports", p, src))
			}
			proto, port, t := uint8(p.Proto), p.Port, timeout
			adds = append(adds, add{f.set, netlink.IPSetEntry{
				IP: net.IP(src.AsSlice()), Protocol: &proto, Port: &port, Timeout: &t,
				// No NLM_F_EXCL: an existing entry gets the new timeout.
				Replace: true,
			}})
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nl == nil {
		return newError("open", errClosed)
	}
	for i := range adds {
		if err := ctx.Err(); err != nil {
			return newError("open", err)
		}
		a := &adds[i]
		if err := safe(func() error { return b.nl.IpsetAdd(a.set, &a.entry) }); err != nil {
			hint := ipsetHint(err)
			if errors.Is(err, unix.ENOENT) {
				hint = "the set is missing: restart sesamed so that it reconciles the firewall"
			}
			return &firewall.Error{Backend: backendName, Op: "open",
				Err: fmt.Errorf("failed to add %s,%s:%d to %s: %w", a.entry.IP, packet.Proto(*a.entry.Protocol), *a.entry.Port, a.set, err), Hint: hint}
		}
	}
	return nil
}

// family returns the family that holds doors for src, or nil.
func (b *Backend) family(src netip.Addr) *family {
	for _, f := range b.fams {
		if (f.af == unix.AF_INET) == src.Is4() {
			return f
		}
	}
	return nil
}

// List returns the entries of the sets, with the time the kernel says
// they have left, sorted by source, protocol and port.
func (b *Backend) List(ctx context.Context) ([]firewall.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nl == nil {
		return nil, newError("list", errClosed)
	}
	var out []firewall.Entry
	for _, f := range b.fams {
		if err := ctx.Err(); err != nil {
			return nil, newError("list", err)
		}
		var res *netlink.IPSetResult
		err := safe(func() (err error) { res, err = b.nl.IpsetList(f.set); return err })
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, &firewall.Error{Backend: backendName, Op: "list",
				Err: fmt.Errorf("failed to list ipset %s: %w", f.set, err), Hint: ipsetHint(err)}
		}
		for _, e := range res.Entries {
			src, ok := netip.AddrFromSlice(e.IP)
			if !ok || e.Port == nil {
				continue
			}
			ent := firewall.Entry{Src: src.Unmap(), Port: firewall.Port{Proto: packet.TCP, Port: *e.Port}}
			if e.Protocol != nil {
				ent.Port.Proto = packet.Proto(*e.Protocol)
			}
			if e.Timeout != nil {
				ent.Expires = time.Duration(*e.Timeout) * time.Second
			}
			out = append(out, ent)
		}
	}
	slices.SortFunc(out, func(a, b firewall.Entry) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		if a.Port.Proto != b.Port.Proto {
			return int(a.Port.Proto) - int(b.Port.Proto)
		}
		return int(a.Port.Port) - int(b.Port.Port)
	})
	return out, nil
}

// Cleanup removes the jumps, the chains and the sets of every managed
// family. Doors close at once.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nl == nil {
		return newError("cleanup", errClosed)
	}
	var errs []error
	for _, f := range b.fams {
		if err := ctx.Err(); err != nil {
			return newError("cleanup", err)
		}
		err := b.inNS(func() error {
			return errors.Join(f.removeChain(Chain), f.removeChain(stageChain))
		})
		if err != nil {
			errs = append(errs, err)
			continue // the set is still referenced
		}
		err = safe(func() error { return b.nl.IpsetDestroy(f.set) })
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("failed to destroy ipset %s: %w", f.set, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return newError("cleanup", err)
	}
	return nil
}

// Close releases the netlink socket. Doors stay open until they expire.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nl != nil {
		b.nl.Close()
		b.nl = nil
	}
	return nil
}

// inNS runs fn in the configured network namespace. go-iptables forks the
// iptables binary from the calling thread, and a child inherits its
// thread's namespace, so fn runs on a fresh goroutine locked to its
// thread after setns. The goroutine exits without unlocking: the runtime
// then ends the thread instead of reusing it in the wrong namespace.
func (b *Backend) inNS(fn func() error) error {
	if b.cfg.NetNSFd == 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(b.cfg.NetNSFd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("failed to enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// safe runs a netlink call, turning a panic into an error: the ipset code
// of vishvananda/netlink asserts that every socket error is an Errno.
func safe(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("netlink: %v", r)
		}
	}()
	return fn()
}

// newError wraps err for op with the hint its cause suggests.
func newError(op string, err error) *firewall.Error {
	return &firewall.Error{Backend: backendName, Op: op, Err: err, Hint: hint(err)}
}

// hint says what an administrator can do about err, or "".
func hint(err error) string {
	var ie *goipt.Error
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, unix.ENOENT) && !errors.As(err, &ie):
		return "install iptables (Debian: apt-get install iptables) or set the path of the iptables/ip6tables binary"
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return permHint
	case errors.As(err, &ie):
		return iptablesHint(ie.ExitStatus(), ie.Error())
	}
	return ""
}

const permHint = "run sesamed as root or with CAP_NET_ADMIN"

// iptablesHint reads an iptables failure's exit status and message.
func iptablesHint(status int, msg string) string {
	switch {
	case status == 4 || strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Operation not permitted"):
		return permHint
	case strings.Contains(msg, "match `set'"), strings.Contains(msg, "Extension set"), strings.Contains(msg, "match-set"):
		return "the kernel lacks the ipset match: modprobe xt_set (CONFIG_NETFILTER_XT_SET)"
	case strings.Contains(msg, "missing kernel module"), strings.Contains(msg, "Couldn't load"),
		strings.Contains(msg, "can't initialize"), strings.Contains(msg, "does not exist"):
		return "the kernel lacks an iptables module: modprobe ip_tables xt_set xt_conntrack xt_multiport xt_tcpudp"
	}
	return ""
}

// ipsetHint says what to do about an ipset netlink failure.
func ipsetHint(err error) string {
	var se nl.IPSetError
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return permHint
	case errors.As(err, &se) && se == nl.IPSET_ERR_FIND_TYPE:
		return "the kernel lacks the hash:ip,port ipset type: modprobe ip_set_hash_ipport (CONFIG_IP_SET_HASH_IPPORT)"
	case errors.As(err, &se) && se == nl.IPSET_ERR_PROTOCOL:
		return "the kernel's ipset protocol is too old for sesame"
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT),
		errors.Is(err, unix.ENOENT):
		return "the kernel lacks ipset: modprobe ip_set ip_set_hash_ipport xt_set (CONFIG_IP_SET)"
	}
	return ""
}

func familyName(af uint8) string {
	if af == unix.AF_INET6 {
		return "inet6"
	}
	return "inet"
}
