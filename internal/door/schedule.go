package door

import (
	"container/heap"
	"time"
)

// pendingStop is a stop command waiting for its due time.
type pendingStop struct {
	due time.Time
	seq uint64 // ties on due keep the order of scheduling
	j   *job
}

// stopHeap orders pending stops by due time. It is the one place that
// holds the doors the daemon still has to close: the seam for keeping them
// across a restart.
type stopHeap []*pendingStop

func (h stopHeap) Len() int { return len(h) }

func (h stopHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}

func (h stopHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *stopHeap) Push(x any) { *h = append(*h, x.(*pendingStop)) }

func (h *stopHeap) Pop() any {
	old := *h
	n := len(old)
	p := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return p
}

// scheduleLocked holds j until d from now.
func (r *Runner) scheduleLocked(j *job, d time.Duration) {
	r.seq++
	heap.Push(&r.sched, &pendingStop{due: r.clock.Now().Add(d), seq: r.seq, j: j})
	r.armLocked()
}

// armLocked points the single timer at the earliest pending stop.
func (r *Runner) armLocked() {
	if r.sched.Len() == 0 {
		if r.timer != nil && !r.armedFor.IsZero() {
			r.timer.Stop()
		}
		r.armedFor = time.Time{}
		return
	}
	due := r.sched[0].due
	if due.Equal(r.armedFor) {
		return
	}
	d := max(due.Sub(r.clock.Now()), 0)
	if r.timer == nil {
		r.timer = r.clock.AfterFunc(d, r.onTimer)
	} else {
		r.timer.Reset(d)
	}
	r.armedFor = due
}

// onTimer moves every stop that has fallen due to the run queue.
func (r *Runner) onTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return // Close has taken every pending stop
	}
	r.armedFor = time.Time{}
	now := r.clock.Now()
	for r.sched.Len() > 0 && !r.sched[0].due.After(now) {
		p := heap.Pop(&r.sched).(*pendingStop)
		p.j.why = "command timeout"
		r.stops = append(r.stops, p.j)
	}
	r.dispatchLocked()
	r.armLocked()
}

// drainLocked takes every pending stop, in due order, for running now.
func (r *Runner) drainLocked() []*job {
	var out []*job
	for r.sched.Len() > 0 {
		p := heap.Pop(&r.sched).(*pendingStop)
		p.j.why = "stop command brought forward by shutdown"
		out = append(out, p.j)
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.armedFor = time.Time{}
	return out
}
