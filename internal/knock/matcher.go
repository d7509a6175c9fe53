// Package knock is the matcher: it follows every source's progress through
// every event's sequence and says when a knock is complete, failed or timed
// out (SPEC §3).
//
// It is built for hostile traffic. All state lives in a fixed-size slab of
// attempts allocated up front, found through a seeded hash of the source
// address, so a hit costs O(1) work and no allocation whatever the number of
// sources or events, and memory never grows. When the slab is full, the
// attempt evicted is the oldest one still at its first step: a flood of
// spoofed first knocks only ever displaces itself, while a knocker who has
// got past the first step keeps their place (fair eviction).
//
// Time is passed in by the caller (nanoseconds on any monotonic scale), so
// every timeout is tested without sleeping. The matcher is not safe for
// concurrent use: one owner calls Hit and Expire.
package knock

import (
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
)

// Event is the matcher's view of one configured event.
type Event struct {
	Sequence []config.Element
	Timeout  time.Duration
	Flags    config.FlagRule // TCP hits failing it are invisible to the event
	// Target, when valid, is the only destination the event listens on;
	// otherwise hits must be addressed to one of the local addresses.
	Target netip.Addr
	// Gather, when its Base is set, makes the event a cipher knock (SPEC
	// §4.4) instead of a sequence: it collects GatherLen hits in a window
	// of 256 ports and hands their bytes over in an Open outcome.
	Gather Gather
	// Payload, when set, is the exact payload a UDP hit must carry to
	// match a sequence element (port-knocking-doors' "knock\n"); a
	// datagram with any other payload is a wrong knock.
	Payload []byte
	// Lockout, when set, makes a failed attempt lock its source out of
	// the event for that long: its hits are ignored until it ends.
	Lockout time.Duration
}

// GatherLen is the number of hits a gathering event collects: one
// 16-byte cipher block, one byte per knock.
const GatherLen = 16

// Gather is a window of 256 consecutive ports [Base, Base+255] of Proto.
// A hit on port Base+b adds the byte b; a repeat of the byte just added is
// a retransmit and ignored (valid blocks never hold two equal adjacent
// bytes), and any other hit the event sees fails the attempt.
//
// From the GatherLen-th byte on, the last GatherLen bytes are offered to
// Check after every byte (a sliding window), so a knock that lost a packet,
// or caught a stray one, does not spoil the client's next try: its block
// simply slides in. The first block Check accepts completes the attempt,
// and Outcome.Block holds it for the caller to judge further (freshness,
// replay). A nil Check accepts the first GatherLen bytes.
type Gather struct {
	Proto packet.Proto
	Base  uint16
	Check func(*[GatherLen]byte) bool
}

// IsZero reports whether g is unset (the event follows a sequence).
func (g Gather) IsZero() bool { return g.Base == 0 }

func (g Gather) byteOf(h *packet.Hit) (byte, bool) {
	if h.Proto != g.Proto || h.DstPort < g.Base || int(h.DstPort) > int(g.Base)+255 {
		return 0, false
	}
	return byte(h.DstPort - g.Base), true
}

// Options configure a Matcher.
type Options struct {
	// MaxAttempts bounds the attempts in progress (default config.DefaultMaxAttempts).
	MaxAttempts int
	// ScanGuard makes any probe (packet.Hit.Probe: a TCP segment without
	// ACK, or UDP) to another port fail the source's attempts, so that a
	// port scan cannot walk into a door. It also gives an event without a
	// flag rule the rule "!ack": ACK segments — established traffic, and
	// ACK scans, which would otherwise walk an ascending sequence unseen —
	// are not knocks. An event whose elements carry their own exact flags
	// (tportknockd's flag knocks, where an ACK may be part of the knock)
	// gets no such rule: its elements already say which segments count.
	ScanGuard bool
}

// Kind says what happened to an attempt.
type Kind uint8

const (
	Progress Kind = iota + 1 // a step matched (Stage of Of); Stage 1 also on a restart
	Open                     // the sequence is complete: open the door
	Fail                     // a wrong hit ended the attempt
	Timeout                  // the attempt was older than the event's timeout
	Evicted                  // the attempt was dropped to make room for another
)

// A source locked out by an event's Lockout after a Fail is silent: its
// hits are ignored, and the lockout's end (or eviction) is no outcome.

func (k Kind) String() string {
	switch k {
	case Progress:
		return "progress"
	case Open:
		return "open"
	case Fail:
		return "fail"
	case Timeout:
		return "timeout"
	case Evicted:
		return "evicted"
	}
	return "unknown"
}

// Outcome is one thing that happened to one (source, event) attempt.
type Outcome struct {
	Kind  Kind
	Event int
	Src   netip.Addr
	Stage int // steps matched so far (for Fail, Timeout, Evicted: before it ended)
	Of    int // steps in the sequence
	// For Fail: the hit that broke the attempt, and whether the source is
	// now locked out (the event has a Lockout).
	Proto  packet.Proto
	Port   uint16
	Locked bool
	// For Open of a gathering event: the bytes gathered.
	Block [GatherLen]byte
}

// nil is index 0 in every link below; slab slot i is stored as i+1.
const nilRef = 0

type attempt struct {
	key      [16]byte
	deadline int64
	event    uint16
	stage    uint8 // steps matched, 1..len(seq)-1
	queue    uint8 // probation or protected
	inUse    bool
	locked   bool            // a lockout after a failure: hits are ignored until deadline
	hnext    uint32          // hash chain, or free list when unused
	links    [2]link         // in a timeout list, and in an eviction queue
	block    [GatherLen]byte // a gathering event's last bytes, a ring from first
	first    uint8           // index in block of the oldest byte
}

// Every attempt is in two intrusive doubly linked lists over the slab.
const (
	timeoutLinks = 0 // the list of its event's timeout, in deadline order
	queueLinks   = 1 // its eviction queue: probation or protected
)

type link struct{ prev, next uint32 }

type list struct{ head, tail uint32 }

type eventState struct {
	Event
	timeout int64
	tlist   int // index into Matcher.tlists
	lockout int64
	llist   int    // index into Matcher.tlists of the lockout's duration
	seenGen uint64 // last hit generation that touched an attempt of this event
}

// Matcher tracks attempts. Create it with New.
type Matcher struct {
	opts     Options
	events   []eventState
	local    []netip.Addr
	localSet bool
	slab     []attempt
	free     uint32
	buckets  []uint32
	mask     uint32
	seed     maphash.Seed
	tlists   []list // one per distinct timeout, ordered by deadline
	queues   [2]list
	gen      uint64
	ports    portIndex
	active   int
	block    [GatherLen]byte // the block a gathering attempt offers to Check
}

const (
	probation uint8 = 0 // attempts at their first step, oldest first
	protected uint8 = 1 // attempts past the first step, least recently advanced first
)

// New builds a matcher for the events. Events with an empty sequence are
// inactive until SetSequence gives them one.
func New(events []Event, opts Options) *Matcher {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = config.DefaultMaxAttempts
	}
	m := &Matcher{opts: opts, seed: maphash.MakeSeed()}
	nb := uint32(1)
	for nb < uint32(2*opts.MaxAttempts) {
		nb <<= 1
	}
	m.buckets = make([]uint32, nb)
	m.mask = nb - 1
	m.slab = make([]attempt, opts.MaxAttempts)
	for i := range m.slab {
		m.slab[i].hnext = m.free
		m.free = uint32(i + 1)
	}
	m.events = make([]eventState, len(events))
	timeouts := map[int64]int{}
	listOf := func(t int64) int {
		li, ok := timeouts[t]
		if !ok {
			li = len(m.tlists)
			timeouts[t] = li
			m.tlists = append(m.tlists, list{})
		}
		return li
	}
	for i, ev := range events {
		if opts.ScanGuard && ev.Flags.IsZero() && !hasFrameFlags(ev.Sequence) {
			ev.Flags.Clear = packet.ACK
		}
		m.events[i] = eventState{Event: ev, timeout: int64(ev.Timeout), tlist: listOf(int64(ev.Timeout))}
		if ev.Lockout > 0 {
			m.events[i].lockout = int64(ev.Lockout)
			m.events[i].llist = listOf(int64(ev.Lockout))
		}
	}
	m.ports.build(m.events)
	return m
}

// SetLocal sets the addresses of the host: hits for events without a Target
// count only when sent to one of them. Until SetLocal is first called every
// destination counts (a capture replayed in a test); after it, an empty
// list means no destination counts — an interface without an address
// fails closed, not open.
func (m *Matcher) SetLocal(addrs []netip.Addr) {
	m.local = append(m.local[:0], addrs...)
	m.localSet = true
}

// SetSequence replaces an event's sequence (a one-time sequence moving on).
// Attempts in progress for that event are dropped.
func (m *Matcher) SetSequence(event int, seq []config.Element) {
	m.SetSequences([]SequenceChange{{Event: event, Sequence: seq}})
}

// SequenceChange is one event's new sequence, for SetSequences.
type SequenceChange struct {
	Event    int
	Sequence []config.Element
}

// SetSequences replaces the sequences of several events at once (TOTP
// sequences moving on to the next time step) in one pass over the
// attempts. Attempts in progress for those events are dropped; lockouts
// stay.
func (m *Matcher) SetSequences(changes []SequenceChange) {
	if len(changes) == 0 {
		return
	}
	changed := make([]bool, len(m.events))
	for _, c := range changes {
		changed[c.Event] = true
		m.events[c.Event].Sequence = c.Sequence
	}
	for i := range m.slab {
		// A lockout outlives the sequence: it is the source that erred.
		if a := &m.slab[i]; a.inUse && !a.locked && changed[a.event] {
			m.remove(uint32(i + 1))
		}
	}
	m.ports.build(m.events)
}

// Events is the number of events the matcher was built with.
func (m *Matcher) Events() int { return len(m.events) }

// Active reports the number of attempts in progress.
func (m *Matcher) Active() int { return m.active }

// Hit feeds one hit observed at time now and appends what happened to out.
func (m *Matcher) Hit(h *packet.Hit, now int64, out []Outcome) []Outcome {
	pi, ok := protoIndex(h.Proto)
	if !ok {
		return out
	}
	knockPort := m.ports.knock[pi].has(h.DstPort)
	if !knockPort && !(m.opts.ScanGuard && h.Probe()) {
		return out // a packet no event could see (e.g. an established session)
	}
	isLocal := m.isLocal(h.Dst)
	key := h.Src.As16()
	m.gen++
	first := len(out)

	// The source's attempts in progress: all share one hash chain.
	for ref := m.buckets[m.bucket(&key)]; ref != nilRef; {
		a := &m.slab[ref-1]
		cur := ref
		ref = a.hnext
		if a.key != key {
			continue
		}
		ev := &m.events[a.event]
		ev.seenGen = m.gen
		if a.locked || !ev.accepts(h, isLocal) {
			continue
		}
		if !ev.Gather.IsZero() {
			out = m.gather(cur, a, h, now, out)
			continue
		}
		seq := ev.Sequence
		switch k := int(a.stage); {
		case ev.matches(seq[k], h):
			if k+1 == len(seq) {
				out = append(out, Outcome{Kind: Open, Event: int(a.event), Src: h.Src, Stage: k + 1, Of: len(seq)})
				m.remove(cur)
				continue
			}
			a.stage++
			m.requeue(cur, protected)
			out = append(out, Outcome{Kind: Progress, Event: int(a.event), Src: h.Src, Stage: k + 1, Of: len(seq)})
		case ev.matches(seq[k-1], h):
			// A retransmit or a client that knocks twice: not a failure.
		case ev.matches(seq[0], h):
			a.stage = 1
			a.deadline = now + ev.timeout
			m.tunlink(cur)
			m.tappend(cur)
			m.requeue(cur, probation)
			out = append(out, Outcome{Kind: Progress, Event: int(a.event), Src: h.Src, Stage: 1, Of: len(seq)})
		default:
			out = m.fail(cur, h, now, out)
		}
	}

	// Events whose first step this hit is, and that had no attempt above.
	if !m.ports.start[pi].has(h.DstPort) {
		sortByEvent(out[first:])
		return out
	}
	for _, e := range m.ports.starters(pi, h.DstPort) {
		ev := &m.events[e]
		if ev.seenGen == m.gen || !ev.accepts(h, isLocal) {
			continue
		}
		if !ev.Gather.IsZero() {
			b, _ := ev.Gather.byteOf(h) // starters holds only window ports
			var ref uint32
			out, ref = m.start(key, e, now, out)
			m.slab[ref-1].block[0] = b
			out = append(out, Outcome{Kind: Progress, Event: int(e), Src: h.Src, Stage: 1, Of: GatherLen})
			continue
		}
		if !ev.matches(ev.Sequence[0], h) {
			continue
		}
		if len(ev.Sequence) == 1 {
			out = append(out, Outcome{Kind: Open, Event: int(e), Src: h.Src, Stage: 1, Of: 1})
			continue
		}
		out, _ = m.start(key, e, now, out)
		out = append(out, Outcome{Kind: Progress, Event: int(e), Src: h.Src, Stage: 1, Of: len(ev.Sequence)})
	}
	sortByEvent(out[first:])
	return out
}

// gather feeds a hit to a gathering attempt.
func (m *Matcher) gather(ref uint32, a *attempt, h *packet.Hit, now int64, out []Outcome) []Outcome {
	ev := &m.events[a.event]
	b, ok := ev.Gather.byteOf(h)
	k := int(a.stage) // bytes held, at most GatherLen
	if !ok {
		return m.fail(ref, h, now, out)
	}
	if b == a.block[(int(a.first)+k-1)%GatherLen] {
		return out // a retransmit: valid blocks never repeat a byte
	}
	if k < GatherLen {
		a.block[k] = b
		a.stage++
		k++
	} else {
		a.block[a.first] = b // slide: the oldest byte goes
		a.first = (a.first + 1) % GatherLen
	}
	m.requeue(ref, protected)
	o := Outcome{Kind: Progress, Event: int(a.event), Src: h.Src, Stage: k, Of: GatherLen}
	if k == GatherLen {
		// (Check gets the matcher's own buffer: a pointer into o would
		// move o to the heap on every hit.)
		for i := range m.block {
			m.block[i] = a.block[(int(a.first)+i)%GatherLen]
		}
		o.Block = m.block
		if ev.Gather.Check == nil || ev.Gather.Check(&m.block) {
			o.Kind = Open
			m.remove(ref)
		}
	}
	return append(out, o)
}

// fail ends the attempt ref, broken by h: it is removed, or, if its event
// has a Lockout, turned into a lockout of its source until now+Lockout.
func (m *Matcher) fail(ref uint32, h *packet.Hit, now int64, out []Outcome) []Outcome {
	a := &m.slab[ref-1]
	ev := &m.events[a.event]
	o := Outcome{Kind: Fail, Event: int(a.event), Src: h.Src, Stage: int(a.stage), Of: ev.steps(), Proto: h.Proto, Port: h.DstPort}
	if ev.lockout == 0 {
		m.remove(ref)
		return append(out, o)
	}
	o.Locked = true
	m.tunlink(ref)
	a.locked = true
	a.deadline = now + ev.lockout
	m.tappend(ref) // now in the lockout's list
	// Protected, so that a flood of spoofed first knocks, which only ever
	// evicts from probation while it can, does not lift the lockout.
	m.requeue(ref, protected)
	return append(out, o)
}

// hasFrameFlags reports whether some element requires exact TCP flags.
func hasFrameFlags(seq []config.Element) bool {
	for _, el := range seq {
		if el.Flags.Exact {
			return true
		}
	}
	return false
}

// sortByEvent orders one hit's outcomes by event (insertion sort: there
// are rarely more than one or two), so logs read the same on every run.
func sortByEvent(o []Outcome) {
	for i := 1; i < len(o); i++ {
		for j := i; j > 0 && o[j].Event < o[j-1].Event; j-- {
			o[j], o[j-1] = o[j-1], o[j]
		}
	}
}

// Expire ends every attempt whose deadline is at or before now.
func (m *Matcher) Expire(now int64, out []Outcome) []Outcome {
	for li := range m.tlists {
		for ref := m.tlists[li].head; ref != nilRef; ref = m.tlists[li].head {
			a := &m.slab[ref-1]
			if a.deadline > now {
				break
			}
			if !a.locked {
				out = append(out, m.outcome(Timeout, a))
			}
			m.remove(ref)
		}
	}
	return out
}

// NextDeadline returns the earliest deadline of any attempt in progress.
func (m *Matcher) NextDeadline() (int64, bool) {
	var next int64
	found := false
	for _, l := range m.tlists {
		if l.head == nilRef {
			continue
		}
		if d := m.slab[l.head-1].deadline; !found || d < next {
			next, found = d, true
		}
	}
	return next, found
}

func (m *Matcher) outcome(k Kind, a *attempt) Outcome {
	return Outcome{Kind: k, Event: int(a.event), Src: addrFromKey(&a.key), Stage: int(a.stage), Of: m.events[a.event].steps()}
}

// steps is the number of hits that complete the event.
func (ev *eventState) steps() int {
	if !ev.Gather.IsZero() {
		return GatherLen
	}
	return len(ev.Sequence)
}

func addrFromKey(k *[16]byte) netip.Addr {
	return netip.AddrFrom16(*k).Unmap()
}

func (ev *eventState) accepts(h *packet.Hit, isLocal bool) bool {
	if ev.Target.IsValid() {
		if h.Dst != ev.Target {
			return false
		}
	} else if !isLocal {
		return false
	}
	return h.Proto != packet.TCP || ev.Flags.Allows(h.Flags)
}

func (ev *eventState) matches(el config.Element, h *packet.Hit) bool {
	if el.Proto != h.Proto || el.Port != h.DstPort {
		return false
	}
	if h.Proto == packet.TCP {
		return el.Flags.Matches(h.Flags)
	}
	return len(ev.Payload) == 0 || h.HasPayload(ev.Payload)
}

func (m *Matcher) isLocal(dst netip.Addr) bool {
	if !m.localSet {
		return true
	}
	for _, a := range m.local {
		if a == dst {
			return true
		}
	}
	return false
}

func (m *Matcher) bucket(key *[16]byte) uint32 {
	return uint32(maphash.Bytes(m.seed, key[:])) & m.mask
}

// start creates a first-step attempt, evicting if the slab is full, and
// returns its reference.
func (m *Matcher) start(key [16]byte, e int, now int64, out []Outcome) ([]Outcome, uint32) {
	if m.free == nilRef {
		victim := m.queues[probation].head
		if victim == nilRef {
			victim = m.queues[protected].head
		}
		if v := &m.slab[victim-1]; !v.locked {
			out = append(out, m.outcome(Evicted, v))
		}
		m.remove(victim)
	}
	ref := m.free
	a := &m.slab[ref-1]
	m.free = a.hnext
	*a = attempt{key: key, deadline: now + m.events[e].timeout, event: uint16(e), stage: 1, inUse: true}
	b := m.bucket(&key)
	a.hnext = m.buckets[b]
	m.buckets[b] = ref
	m.tappend(ref)
	m.qappend(ref, probation)
	m.active++
	return out, ref
}

func (m *Matcher) remove(ref uint32) {
	a := &m.slab[ref-1]
	b := m.bucket(&a.key)
	for p := &m.buckets[b]; *p != nilRef; p = &m.slab[*p-1].hnext {
		if *p == ref {
			*p = a.hnext
			break
		}
	}
	m.tunlink(ref)
	m.qunlink(ref)
	a.inUse = false
	a.hnext = m.free
	m.free = ref
	m.active--
}

// push appends ref to l through its links k.
func (m *Matcher) push(l *list, ref uint32, k int) {
	a := &m.slab[ref-1]
	a.links[k] = link{prev: l.tail}
	if l.tail != nilRef {
		m.slab[l.tail-1].links[k].next = ref
	} else {
		l.head = ref
	}
	l.tail = ref
}

// unlink removes ref from l, which its links k are in.
func (m *Matcher) unlink(l *list, ref uint32, k int) {
	lk := m.slab[ref-1].links[k]
	if lk.prev != nilRef {
		m.slab[lk.prev-1].links[k].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nilRef {
		m.slab[lk.next-1].links[k].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	m.slab[ref-1].links[k] = link{}
}

// Timeout lists: one per distinct timeout value. Appending at the tail
// keeps each list in deadline order, because deadline = now + timeout and
// now never goes backwards.
func (m *Matcher) tlist(ref uint32) *list {
	a := &m.slab[ref-1]
	if a.locked {
		return &m.tlists[m.events[a.event].llist]
	}
	return &m.tlists[m.events[a.event].tlist]
}
func (m *Matcher) tappend(ref uint32) { m.push(m.tlist(ref), ref, timeoutLinks) }
func (m *Matcher) tunlink(ref uint32) { m.unlink(m.tlist(ref), ref, timeoutLinks) }

// Eviction queues: probation holds attempts at their first step, oldest
// first; protected holds the rest, least recently advanced first.
func (m *Matcher) qappend(ref uint32, q uint8) {
	m.slab[ref-1].queue = q
	m.push(&m.queues[q], ref, queueLinks)
}

func (m *Matcher) qunlink(ref uint32) { m.unlink(&m.queues[m.slab[ref-1].queue], ref, queueLinks) }

// requeue moves ref to the tail of queue q.
func (m *Matcher) requeue(ref uint32, q uint8) {
	m.qunlink(ref)
	m.qappend(ref, q)
}

// Event returns event i as the matcher holds it now (its sequence as last
// set by SetSequence(s)).
func (m *Matcher) Event(i int) Event { return m.events[i].Event }

// Adopt carries attempts in progress over from old, a matcher being
// replaced (a configuration reloaded), into m, which must be new and
// empty and use the same time scale. An attempt of old's event e moves to
// m's event lane(e) when ok; the caller decides that only for events
// whose knock did not change, so an attempt keeps its meaning. Stages,
// deadlines, lockouts and gathered bytes are kept, and so are the order of
// the timeout lists and the eviction queues: the attempt a flood would
// evict next is the same one. When m holds fewer attempts than are
// carried, the most recently advanced win: protected attempts first, then
// the newest first steps. Adopt reports how many attempts it carried and
// how many it dropped. It allocates; it runs once per reload, never per
// hit.
func (m *Matcher) Adopt(old *Matcher, lane func(oldEvent int) (newEvent int, ok bool)) (carried, dropped int) {
	if m.active != 0 {
		panic("knock: Adopt into a matcher already in use")
	}
	to := make([]int32, len(old.events))
	taken := make([]bool, len(m.events))
	for e := range old.events {
		to[e] = -1
		// Deadlines and list order stay right only for equal durations;
		// two events never merge into one (a source would hold two
		// attempts at one event).
		if n, ok := lane(e); ok && n >= 0 && n < len(m.events) && !taken[n] &&
			m.events[n].timeout == old.events[e].timeout && m.events[n].lockout == old.events[e].lockout {
			to[e] = int32(n)
			taken[n] = true
		}
	}
	// Choose what fits: protected before probation, newest first.
	chosen := make([]bool, len(old.slab)+1)
	room := len(m.slab)
	for _, q := range [...]uint8{protected, probation} {
		for ref := old.queues[q].tail; ref != nilRef; ref = old.slab[ref-1].links[queueLinks].prev {
			if to[old.slab[ref-1].event] < 0 {
				continue
			}
			if room == 0 {
				dropped++
				continue
			}
			chosen[ref] = true
			room--
		}
	}
	// Insert in deadline order, list by list: old's list of a duration
	// maps onto m's list of the same duration, so each stays ordered.
	newRef := make([]uint32, len(old.slab)+1)
	for li := range old.tlists {
		for ref := old.tlists[li].head; ref != nilRef; ref = old.slab[ref-1].links[timeoutLinks].next {
			if !chosen[ref] {
				continue
			}
			a := old.slab[ref-1]
			nref := m.free
			n := &m.slab[nref-1]
			m.free = n.hnext
			*n = attempt{
				key: a.key, deadline: a.deadline, event: uint16(to[a.event]), stage: a.stage,
				inUse: true, locked: a.locked, block: a.block, first: a.first,
			}
			b := m.bucket(&n.key)
			n.hnext = m.buckets[b]
			m.buckets[b] = nref
			m.tappend(nref)
			m.active++
			newRef[ref] = nref
			carried++
		}
	}
	for _, q := range [...]uint8{probation, protected} {
		for ref := old.queues[q].head; ref != nilRef; ref = old.slab[ref-1].links[queueLinks].next {
			if chosen[ref] {
				m.qappend(newRef[ref], q)
			}
		}
	}
	return carried, dropped
}
