package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// OpenTime is what KnockThenProbe measured for one knock.
type OpenTime struct {
	// Open is when the first SYN that got through was sent, counted from
	// the moment the last knock packet had left (its connect returned).
	Open time.Duration
	// After is when the last SYN sent before it that did not get through
	// was sent (-1 if none): the door opened within (After, Open].
	After time.Duration
	// MaxGap is the largest gap between two probes: a figure is only as
	// fine as this (a prober that was descheduled shows up here, not as
	// the daemon's latency).
	MaxGap time.Duration
	Probes int
}

// KnockThenProbe sends the knock (one SYN per element, from src to dst)
// and then a fresh SYN from src to to every `every`, all on one OS thread
// in the namespace, with no goroutine and no Go timer: one ppoll loop
// waits for the handshakes and for the next send. (TimeToOpen, which
// starts a goroutine per probe, is fine for "did it open" but not for
// sub-millisecond figures: on two CPUs its probes can stall for 10 ms
// behind its own blocked goroutines.) A probe is given 300 ms; it fails
// after limit with no probe through. TCP knocks only.
func (h *Host) KnockThenProbe(src, dst netip.Addr, seq []Knock, to netip.AddrPort, every, limit time.Duration) (OpenTime, error) {
	res := OpenTime{After: -1}
	err := h.Do(func() error {
		// This thread only (it dies with the call): wake from ppoll on
		// time, not up to the default 50 µs late.
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("timer slack: %w", err)
		}
		for _, k := range seq {
			if k.Proto != "tcp" {
				return errors.New("KnockThenProbe: TCP knocks only")
			}
			fd, err := connectNonBlocking(src, netip.AddrPortFrom(dst, k.Port))
			if err != nil {
				return err
			}
			unix.Close(fd)
		}
		start := time.Now() // the last knock's SYN has left: connect sends it
		type probe struct {
			fd int
			at time.Duration
		}
		var probes []probe
		var pfds []unix.PollFd
		defer func() {
			for _, p := range probes {
				unix.Close(p.fd)
			}
		}()
		var next, last time.Duration
		for {
			now := time.Since(start)
			if now >= next && now < limit {
				if res.Probes > 0 && now-last > res.MaxGap {
					res.MaxGap = now - last
				}
				fd, err := connectNonBlocking(src, to)
				if err != nil {
					return err
				}
				probes = append(probes, probe{fd, now})
				pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT})
				res.Probes++
				last = now
				next += every
				if next <= now {
					next = now + every
				}
			}
			if now >= limit && len(probes) == 0 {
				return fmt.Errorf("no connection from %s within %v", src, limit)
			}
			wait := next - now
			if now >= limit {
				wait = 10 * time.Millisecond
			}
			ts := unix.NsecToTimespec(int64(max(wait, 0)))
			if _, err := unix.Ppoll(pfds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
			now = time.Since(start)
			// Oldest first: the first through is the earliest sent.
			keep := 0
			for i, p := range probes {
				done, ok := false, false
				if pfds[i].Revents != 0 {
					soErr, err := unix.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
					done, ok = true, err == nil && soErr == 0
				}
				if ok {
					res.Open = p.at
					if keep > 0 {
						res.After = probes[keep-1].at
					}
					return nil
				}
				if done || now-p.at > 300*time.Millisecond {
					unix.Close(p.fd)
					res.After = max(res.After, p.at)
					continue
				}
				probes[keep], pfds[keep] = p, pfds[i]
				pfds[keep].Revents = 0
				keep++
			}
			probes, pfds = probes[:keep], pfds[:keep]
		}
	})
	return res, err
}
