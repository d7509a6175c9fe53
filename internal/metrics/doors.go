package metrics

import (
	"net/netip"
	"sync"
	"time"
)

// DefaultDoorLimit bounds the doors an OpenDoors tracks. An entry costs
// about 100 bytes, so the table never passes a few megabytes; a host with
// more knockers inside their door timeouts at once than this is far outside
// what sesamed is for.
const DefaultDoorLimit = 1 << 16

// OpenDoors counts the native doors open now. The kernel closes native doors
// by itself (set elements with a timeout), so the daemon has nothing that
// holds them; this tracker remembers each (event, source) until its
// deadline instead.
//
// A re-open of the same (event, source) refreshes it: it counts once, until
// the later of its deadlines. Entries are kept per event in deadline order
// (an event has one timeout, so deadlines arrive in order) and expired ones
// are dropped from the front, by Open for its own event and by Count for
// all: each entry is dropped once, so the cost is O(1) amortised per Open,
// and no allocation once the table has grown. If the clock steps back, a
// later open can be queued behind an earlier one and be counted until the
// earlier one expires; the count is then briefly high, never low.
//
// Memory is bounded by the limit: an Open of a new (event, source) that
// finds the table full is not tracked, and Count then saturates — it
// reports the limit until every untracked door's deadline has passed, as
// some of them may still be open.
//
// OpenDoors is safe for concurrent use.
type OpenDoors struct {
	mu       sync.Mutex
	limit    int
	index    map[doorKey]int32 // → nodes
	nodes    []doorNode
	free     int32 // first free node, or -1
	queues   map[string]*doorQueue
	overflow int64 // the latest deadline of an Open not tracked (Unix ns); 0 if none
}

type doorKey struct {
	event string
	src   netip.Addr
}

type doorNode struct {
	key        doorKey
	until      int64 // Unix ns
	prev, next int32 // in its event's queue; -1 ends
}

// doorQueue is one event's doors, earliest deadline first.
type doorQueue struct{ head, tail int32 }

// NewOpenDoors returns a tracker for at most limit doors (DefaultDoorLimit
// if limit ≤ 0).
func NewOpenDoors(limit int) *OpenDoors {
	if limit <= 0 {
		limit = DefaultDoorLimit
	}
	return &OpenDoors{limit: limit, index: make(map[doorKey]int32), free: -1, queues: make(map[string]*doorQueue)}
}

// Open records that src may pass event's door until until; now is the
// daemon's clock, used to drop the event's expired doors.
func (d *OpenDoors) Open(event string, src netip.Addr, now, until time.Time) {
	u, n := until.UnixNano(), now.UnixNano()
	k := doorKey{event, src.Unmap()}
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[event]
	if q == nil {
		q = &doorQueue{head: -1, tail: -1}
		d.queues[event] = q
	}
	d.prune(q, n)
	if i, ok := d.index[k]; ok {
		nd := &d.nodes[i]
		nd.until = max(nd.until, u)
		d.unlink(q, i)
		d.append(q, i)
		return
	}
	if !(u > n) {
		return // already closed
	}
	if len(d.index) >= d.limit {
		for _, other := range d.queues {
			d.prune(other, n)
		}
		if len(d.index) >= d.limit {
			d.overflow = max(d.overflow, u)
			return
		}
	}
	var i int32
	if d.free >= 0 {
		i = d.free
		d.free = d.nodes[i].next
	} else {
		d.nodes = append(d.nodes, doorNode{})
		i = int32(len(d.nodes) - 1)
	}
	d.nodes[i] = doorNode{key: k, until: u}
	d.index[k] = i
	d.append(q, i)
}

// Count returns the number of doors open at now (the limit while the table
// is saturated).
func (d *OpenDoors) Count(now time.Time) int {
	n := now.UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queues {
		d.prune(q, n)
	}
	if d.overflow != 0 {
		if n < d.overflow {
			return d.limit
		}
		d.overflow = 0
	}
	return len(d.index)
}

// prune drops q's doors whose deadline is not after now.
func (d *OpenDoors) prune(q *doorQueue, now int64) {
	for q.head >= 0 && d.nodes[q.head].until <= now {
		i := q.head
		d.unlink(q, i)
		delete(d.index, d.nodes[i].key)
		d.nodes[i] = doorNode{next: d.free} // drop the event string for the collector
		d.free = i
	}
}

func (d *OpenDoors) unlink(q *doorQueue, i int32) {
	nd := &d.nodes[i]
	if nd.prev >= 0 {
		d.nodes[nd.prev].next = nd.next
	} else {
		q.head = nd.next
	}
	if nd.next >= 0 {
		d.nodes[nd.next].prev = nd.prev
	} else {
		q.tail = nd.prev
	}
	nd.prev, nd.next = -1, -1
}

func (d *OpenDoors) append(q *doorQueue, i int32) {
	nd := &d.nodes[i]
	nd.prev, nd.next = q.tail, -1
	if q.tail >= 0 {
		d.nodes[q.tail].next = i
	} else {
		q.head = i
	}
	q.tail = i
}
