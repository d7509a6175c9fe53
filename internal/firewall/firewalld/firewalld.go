// Package firewalld is sesame's native door for hosts whose firewall is
// firewalld. It talks to firewalld over D-Bus (godbus); it never runs
// firewall-cmd.
//
// A door is one runtime rich rule per (source, port) in one zone,
//
//	rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept
//
// added with addRichRule(zone, rule, timeout). The timeout is why it is a
// rich rule and not, say, a source added to a zone: firewalld itself
// removes a timed rule when the timeout runs out, so a door closes on time
// even if sesamed is killed or hangs, and a crash can never leave a door
// open for good. Rules are runtime only; a reload or restart of firewalld
// drops them, closing every door (never opening one).
//
// A repeated knock refreshes a door: the rule is removed and added again
// with the new timeout, so there is never a duplicate. firewalld has no
// transaction for runtime rich rules, so Open is a sequence of calls, each
// atomic on its own; in the instant between a removal and its re-adding a
// new connection from that source is refused and its client retries
// (established connections are not affected).
//
// Guard mode is the zone's own behaviour: a firewalld zone refuses every
// port it does not list, so a rich rule is all a door needs. It follows
// that the protected ports must NOT be opened by the zone itself (by a
// port, a service such as ssh, a protocol, or the zone's target ACCEPT);
// Reconcile detects that and fails with a hint. Rich rules of the
// administrator's that accept a guarded port, and other zones bound to
// other interfaces or sources, are not examined.
//
// List reports the zone's rich rules that have exactly sesame's form.
// firewalld does not tell how long a timed rule has left, so an Entry's
// Expires is the time left on a deadline this Backend set itself, and 0
// (unknown) for rules it found (added by an earlier sesamed). Cleanup
// removes every rule of sesame's form, including any an administrator
// wrote by hand in exactly that form.
package firewalld

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// firewalld's D-Bus names.
const (
	busName    = "org.fedoraproject.FirewallD1"
	objectPath = dbus.ObjectPath("/org/fedoraproject/FirewallD1")
	ifaceMain  = "org.fedoraproject.FirewallD1"
	ifaceZone  = "org.fedoraproject.FirewallD1.zone"
	errorName  = "org.fedoraproject.FirewallD1.Exception"
)

const (
	name        = "firewalld"
	startHint   = "start firewalld or use Firewall = nftables"
	maxIncludes = 16 // services included by services, followed at most this deep
)

// Config configures the backend.
type Config struct {
	// Zone is the firewalld zone the doors' rules go into; empty means
	// firewalld's default zone, resolved when the backend first needs it.
	Zone string
	// Conn is the D-Bus connection to use (tests); nil means a new
	// connection to the system bus, closed by Close. A given Conn is
	// left open.
	Conn *dbus.Conn
}

// Backend is firewalld as a firewall.Backend. Its methods are safe for
// concurrent use; they are serialised, so two refreshes of one door never
// interleave.
type Backend struct {
	conn    *dbus.Conn
	ownConn bool
	obj     dbus.BusObject
	now     func() time.Time

	mu        sync.Mutex
	zoneName  string               // as configured, "" for the default zone
	zone      string               // resolved zone; "" until resolved
	deadlines map[string]time.Time // rule → when this Backend expects it to expire
}

var _ firewall.Backend = (*Backend)(nil)

// New returns a backend that talks to firewalld on cfg.Conn or the system
// bus. It does not check that firewalld runs; Reconcile does.
func New(cfg Config) (*Backend, error) {
	b := &Backend{conn: cfg.Conn, zoneName: cfg.Zone, now: time.Now, deadlines: map[string]time.Time{}}
	if cfg.Zone != "" && !validZoneName(cfg.Zone) {
		return nil, &firewall.Error{Backend: name, Op: "connect", Err: fmt.Errorf("invalid zone name %q", cfg.Zone),
			Hint: "name a zone that firewall-cmd --get-zones lists"}
	}
	if b.conn == nil {
		c, err := dbus.ConnectSystemBus()
		if err != nil {
			return nil, &firewall.Error{Backend: name, Op: "connect", Err: fmt.Errorf("failed to connect to the system bus: %w", err), Hint: startHint}
		}
		b.conn, b.ownConn = c, true
	}
	b.obj = b.conn.Object(busName, objectPath)
	return b, nil
}

// Name is "firewalld".
func (b *Backend) Name() string { return name }

// Reconcile checks that firewalld runs and answers, resolves the zone,
// and checks that the zone itself does not open a guarded port (a door
// would mean nothing). Doors already open are kept.
func (b *Backend) Reconcile(ctx context.Context, guarded []firewall.Port) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ping(ctx); err != nil {
		return err
	}
	zone, err := b.resolveZone(ctx, "reconcile")
	if err != nil {
		return err
	}
	var settings map[string]dbus.Variant
	if err := b.call(ctx, ifaceZone+".getZoneSettings2", zone).Store(&settings); err != nil {
		return b.fail("reconcile", fmt.Errorf("failed to read zone %q: %w", zone, err))
	}
	return b.checkGuard(ctx, zone, settings, guarded)
}

// Open adds or refreshes one timed rule per (source, port). Every door is
// checked before anything is changed.
func (b *Backend) Open(ctx context.Context, doors []firewall.Door) error {
	type rule struct {
		text    string
		timeout int32
	}
	var rules []rule
	seen := map[string]int{}
	for _, d := range doors {
		secs, err := timeoutSeconds(d.Timeout)
		if err != nil {
			return &firewall.Error{Backend: name, Op: "open", Err: fmt.Errorf("door for %s: %w", d.Src, err)}
		}
		for _, p := range d.Ports {
			text, err := formatRule(d.Src, p)
			if err != nil {
				return &firewall.Error{Backend: name, Op: "open", Err: fmt.Errorf("door for %s %s: %w", d.Src, p, err)}
			}
			if i, ok := seen[text]; ok { // the same door twice: once, the longer timeout
				rules[i].timeout = max(rules[i].timeout, secs)
				continue
			}
			seen[text] = len(rules)
			rules = append(rules, rule{text, secs})
		}
	}
	if len(rules) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	zone, err := b.resolveZone(ctx, "open")
	if err != nil {
		return err
	}
	for _, r := range rules {
		// Remove, then add: firewalld refuses a duplicate
		// (ALREADY_ENABLED) and would keep the old timeout.
		if err := b.call(ctx, ifaceZone+".removeRichRule", zone, r.text).Err; err != nil && errorCode(err) != "NOT_ENABLED" {
			return b.fail("open", fmt.Errorf("failed to remove %s from zone %q: %w", r.text, zone, err))
		}
		err := b.call(ctx, ifaceZone+".addRichRule", zone, r.text, r.timeout).Err
		if errorCode(err) == "ALREADY_ENABLED" {
			// Someone else added it between the two calls: it is
			// open, and the next knock sets its timeout.
			err = nil
		}
		if err != nil {
			delete(b.deadlines, r.text)
			return b.fail("open", fmt.Errorf("failed to add %s to zone %q: %w", r.text, zone, err))
		}
		b.deadlines[r.text] = b.now().Add(time.Duration(r.timeout) * time.Second)
	}
	return nil
}

// List returns the doors open now: the zone's rich rules of sesame's form.
// Expires is 0 (unknown) for a rule this Backend did not add itself.
func (b *Backend) List(ctx context.Context) ([]firewall.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	zone, err := b.resolveZone(ctx, "list")
	if err != nil {
		return nil, err
	}
	rules, err := b.richRules(ctx, zone)
	if err != nil {
		return nil, b.fail("list", err)
	}
	now := b.now()
	var out []firewall.Entry
	present := map[string]bool{}
	for _, r := range rules {
		e, err := parseRule(r)
		if err != nil {
			continue
		}
		present[r] = true
		if d, ok := b.deadlines[r]; ok && d.After(now) {
			e.Expires = d.Sub(now)
		}
		out = append(out, e)
	}
	for r := range b.deadlines { // forget rules firewalld has expired
		if !present[r] {
			delete(b.deadlines, r)
		}
	}
	return out, nil
}

// Cleanup removes every rule of sesame's form from the zone.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	zone, err := b.resolveZone(ctx, "cleanup")
	if err != nil {
		return err
	}
	rules, err := b.richRules(ctx, zone)
	if err != nil {
		return b.fail("cleanup", err)
	}
	var errs []error
	for _, r := range rules {
		if _, err := parseRule(r); err != nil {
			continue
		}
		// NOT_ENABLED: it expired since getRichRules.
		if err := b.call(ctx, ifaceZone+".removeRichRule", zone, r).Err; err != nil && errorCode(err) != "NOT_ENABLED" {
			errs = append(errs, fmt.Errorf("failed to remove %s from zone %q: %w", r, zone, err))
			continue
		}
		delete(b.deadlines, r)
	}
	if err := errors.Join(errs...); err != nil {
		return b.fail("cleanup", err)
	}
	return nil
}

// Close closes the connection New opened; open doors stay open until
// firewalld expires them.
func (b *Backend) Close() error {
	if b.ownConn {
		return b.conn.Close()
	}
	return nil
}

func (b *Backend) call(ctx context.Context, method string, args ...any) *dbus.Call {
	// NoAutoStart: sesame must not start firewalld by D-Bus activation
	// on a host that does not use it.
	return b.obj.CallWithContext(ctx, method, dbus.FlagNoAutoStart, args...)
}

// ping checks that firewalld is on the bus and has finished starting.
func (b *Backend) ping(ctx context.Context) error {
	var has bool
	if err := b.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, busName).Store(&has); err != nil {
		return &firewall.Error{Backend: name, Op: "connect", Err: fmt.Errorf("failed to ask the bus for %s: %w", busName, err), Hint: startHint}
	}
	if !has {
		return &firewall.Error{Backend: name, Op: "connect", Err: fmt.Errorf("%s is not on the bus (firewalld is not running)", busName), Hint: startHint}
	}
	var state string
	if err := b.call(ctx, "org.freedesktop.DBus.Properties.Get", ifaceMain, "state").Store(&state); err != nil {
		return &firewall.Error{Backend: name, Op: "connect", Err: fmt.Errorf("firewalld does not answer: %w", err), Hint: startHint}
	}
	if state != "RUNNING" {
		return &firewall.Error{Backend: name, Op: "connect", Err: fmt.Errorf("firewalld is in state %s, not RUNNING", state), Hint: startHint}
	}
	return nil
}

// resolveZone returns the zone, asking firewalld for its default zone once
// if none was configured. b.mu is held.
func (b *Backend) resolveZone(ctx context.Context, op string) (string, error) {
	if b.zone != "" {
		return b.zone, nil
	}
	if b.zoneName != "" {
		b.zone = b.zoneName
		return b.zone, nil
	}
	var z string
	if err := b.call(ctx, ifaceMain+".getDefaultZone").Store(&z); err != nil {
		return "", b.fail(op, fmt.Errorf("failed to get the default zone: %w", err))
	}
	if !validZoneName(z) {
		return "", b.fail(op, fmt.Errorf("firewalld's default zone %q is not a valid zone name", z))
	}
	b.zone = z
	return z, nil
}

func (b *Backend) richRules(ctx context.Context, zone string) ([]string, error) {
	var rules []string
	if err := b.call(ctx, ifaceZone+".getRichRules", zone).Store(&rules); err != nil {
		return nil, fmt.Errorf("failed to get the rich rules of zone %q: %w", zone, err)
	}
	return rules, nil
}

// fail wraps err as a firewall.Error with a hint where one helps.
func (b *Backend) fail(op string, err error) error {
	e := &firewall.Error{Backend: name, Op: op, Err: err}
	var de dbus.Error
	switch {
	case errorCode(err) == "INVALID_ZONE":
		e.Hint = "set the zone to one that firewall-cmd --get-zones lists"
	case errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
		de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner" || de.Name == "org.freedesktop.DBus.Error.NoReply"):
		e.Hint = startHint
	case errors.Is(err, dbus.ErrClosed):
		e.Hint = startHint
	}
	return e
}

// errorCode returns firewalld's error code ("ALREADY_ENABLED") from a D-Bus
// error, or "" if err is not one of firewalld's errors.
func errorCode(err error) string {
	var de dbus.Error
	if !errors.As(err, &de) {
		var pde *dbus.Error
		if !errors.As(err, &pde) || pde == nil {
			return ""
		}
		de = *pde
	}
	if de.Name != errorName || len(de.Body) == 0 {
		return ""
	}
	msg, _ := de.Body[0].(string)
	code, _, _ := strings.Cut(msg, ":")
	return strings.TrimSpace(code)
}

// timeoutSeconds is a door's timeout in whole seconds, rounded up:
// firewalld's timeouts are seconds, and 0 would mean "no timeout".
func timeoutSeconds(d time.Duration) (int32, error) {
	if d <= 0 {
		return 0, fmt.Errorf("timeout %v is not positive", d)
	}
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxInt32 {
		return 0, fmt.Errorf("timeout %v is too long", d)
	}
	return int32(s), nil
}

// validZoneName accepts the characters firewalld allows in a zone name
// (letters, digits, "_", "-", "/"); firewalld itself checks the rest.
func validZoneName(z string) bool {
	if z == "" || len(z) > 64 {
		return false
	}
	for _, c := range z {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}

// checkGuard fails if the zone itself admits a guarded port to everyone:
// a door would add nothing there.
func (b *Backend) checkGuard(ctx context.Context, zone string, settings map[string]dbus.Variant, guarded []firewall.Port) error {
	if len(guarded) == 0 {
		return nil
	}
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		return &firewall.Error{Backend: name, Op: "reconcile",
			Err:  fmt.Errorf("zone %q already opens a guarded port to everyone: %s", zone, msg),
			Hint: "the zone must not open the ports sesame guards; remove that from the zone (runtime and --permanent) or choose another zone"}
	}
	target, _ := settings["target"].Value().(string)
	if target == "ACCEPT" {
		return fail("its target is ACCEPT (firewall-cmd --permanent --zone=%s --set-target=default)", zone)
	}
	protocols, _ := settings["protocols"].Value().([]string)
	if p, ok := openProto(protocols, guarded); ok {
		return fail("it allows protocol %s (firewall-cmd --zone=%s --remove-protocol=%s)", p, zone, p)
	}
	if g, spec, ok := openPort(portPairs(settings["ports"]), guarded); ok {
		return fail("%s is in its ports as %s (firewall-cmd --zone=%s --remove-port=%s)", g, spec, zone, spec)
	}
	services, _ := settings["services"].Value().([]string)
	for _, s := range services {
		g, how, err := b.serviceOpens(ctx, s, guarded, 0, map[string]bool{})
		if err != nil {
			return b.fail("reconcile", err)
		}
		if how != "" {
			return fail("%s is opened by service %s (%s) (firewall-cmd --zone=%s --remove-service=%s)", g, s, how, zone, s)
		}
	}
	return nil
}

// serviceOpens reports which guarded port service s (or a service it
// includes) opens, and how.
func (b *Backend) serviceOpens(ctx context.Context, s string, guarded []firewall.Port, depth int, seen map[string]bool) (firewall.Port, string, error) {
	if seen[s] || depth > maxIncludes {
		return firewall.Port{}, "", nil
	}
	seen[s] = true
	var settings map[string]dbus.Variant
	if err := b.call(ctx, ifaceMain+".getServiceSettings2", s).Store(&settings); err != nil {
		return firewall.Port{}, "", fmt.Errorf("failed to read service %q: %w", s, err)
	}
	protocols, _ := settings["protocols"].Value().([]string)
	if p, ok := openProto(protocols, guarded); ok {
		return guarded[slices.IndexFunc(guarded, func(g firewall.Port) bool { return protoMatches(g.Proto, p) })], "protocol " + p, nil
	}
	if g, spec, ok := openPort(portPairs(settings["ports"]), guarded); ok {
		return g, "port " + spec, nil
	}
	includes, _ := settings["includes"].Value().([]string)
	for _, inc := range includes {
		g, how, err := b.serviceOpens(ctx, inc, guarded, depth+1, seen)
		if err != nil || how != "" {
			return g, how, err
		}
	}
	return firewall.Port{}, "", nil
}

// portPairs reads firewalld's list of (port, protocol) pairs, a(ss) in
// the *Settings2 answers, which godbus gives as [][]any; anything else
// (an absent key) is no pairs.
func portPairs(v dbus.Variant) [][]string {
	structs, _ := v.Value().([][]any)
	var out [][]string
	for _, st := range structs {
		if len(st) != 2 {
			continue
		}
		port, ok1 := st[0].(string)
		proto, ok2 := st[1].(string)
		if ok1 && ok2 {
			out = append(out, []string{port, proto})
		}
	}
	return out
}

// openPort finds a guarded port inside one of the (port or range,
// protocol) pairs.
func openPort(pairs [][]string, guarded []firewall.Port) (firewall.Port, string, bool) {
	for _, pp := range pairs {
		if len(pp) != 2 {
			continue
		}
		lo, hi, ok := portRange(pp[0])
		if !ok {
			continue
		}
		for _, g := range guarded {
			if protoMatches(g.Proto, pp[1]) && lo <= g.Port && g.Port <= hi {
				return g, pp[0] + "/" + pp[1], true
			}
		}
	}
	return firewall.Port{}, "", false
}

func openProto(protocols []string, guarded []firewall.Port) (string, bool) {
	for _, p := range protocols {
		for _, g := range guarded {
			if protoMatches(g.Proto, p) {
				return p, true
			}
		}
	}
	return "", false
}

func protoMatches(p packet.Proto, s string) bool {
	n, err := protoName(p)
	return err == nil && n == strings.ToLower(s)
}

// portRange parses firewalld's "22" or "6000-6010".
func portRange(s string) (lo, hi uint16, ok bool) {
	a, c, isRange := strings.Cut(s, "-")
	l, err := parsePort(a)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return l, l, true
	}
	h, err := parsePort(c)
	if err != nil || h < l {
		return 0, 0, false
	}
	return l, h, true
}

func parsePort(s string) (uint16, error) {
	var n uint64
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 65535 {
		return 0, errors.New("bad port")
	}
	return uint16(n), nil
}
