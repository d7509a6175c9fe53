//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// row is one line of the table: a scenario, each daemon's figure, and
// the ratio (sesamed / knockd) of the figure that compares.
type row struct {
	scenario string
	figures  map[string]string // by daemon
	ratio    string
}

// BenchmarkLab runs every scenario for both daemons, one after the other,
// and prints the table. Run once: -benchtime 1x.
func BenchmarkLab(b *testing.B) {
	netlab.RequireRoot(b)
	sz := runSizes()
	var rows []row
	for range b.N {
		rows = rows[:0]
		rows = append(rows, latencyRows(b, sz)...)
		rows = append(rows, floodRows(b, sz)...)
		rows = append(rows, spoofRows(b, sz)...)
		rows = append(rows, concurrentRows(b, sz)...)
	}
	host, _ := os.Hostname()
	var t strings.Builder
	fmt.Fprintf(&t, "\nsesame lab (%s run) on %s, %s\n\n", sz.name, host, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(&t, "| scenario | sesamed | knockd 0.8 | ratio sesamed/knockd |")
	fmt.Fprintln(&t, "| --- | --- | --- | ---: |")
	for _, r := range rows {
		fmt.Fprintf(&t, "| %s | %s | %s | %s |\n", r.scenario, r.figures["sesamed"], r.figures["knockd"], r.ratio)
	}
	fmt.Print(t.String())
	if out := os.Getenv("SESAME_LAB_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(t.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.3g", a/b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// latencyRows: from the last knock packet leaving the client to the door
// accepting a TCP connection from the knocker, each knock from its own
// address.
func latencyRows(b *testing.B, sz sizes) []row {
	var rows []row
	for _, door := range []string{"native", "command"} {
		r := row{scenario: fmt.Sprintf("knock to open, %s door: p50 / p99 over %d knocks", map[string]string{"native": "nftables", "command": "command"}[door], sz.latencyKnocks), figures: map[string]string{}}
		p99 := map[string]time.Duration{}
		for _, d := range daemons {
			b.Run(fmt.Sprintf("latency/%s/%s", door, d.name), func(b *testing.B) {
				lab := netlab.New(b, netlab.Config{Clients: 1, ExtraClientAddrs: sz.latencyKnocks})
				d.start(b, lab, door)
				c := lab.Client(0)
				var lat []time.Duration
				missed, coarse := 0, 0
				for _, src := range c.Extra4[:sz.latencyKnocks] {
					ot, err := c.KnockThenProbe(src, lab.Server.V4, knocks(b), netip.AddrPortFrom(lab.Server.V4, doorPort), 50*time.Microsecond, 2*time.Second)
					if err != nil {
						missed++
						continue
					}
					if ot.MaxGap > 250*time.Microsecond {
						coarse++ // the prober was descheduled: this figure is coarse
					}
					lat = append(lat, ot.Open)
				}
				fig := fmt.Sprintf("%s / %s", ms(percentile(lat, 50)), ms(percentile(lat, 99)))
				if missed > 0 {
					fig += fmt.Sprintf(" (%d never opened)", missed)
				}
				if coarse > 0 {
					fig += fmt.Sprintf(" (%d with probe gaps > 0.25 ms)", coarse)
				}
				r.figures[d.name] = fig
				p99[d.name] = percentile(lat, 99)
			})
		}
		r.ratio = ratio(float64(p99["sesamed"]), float64(p99["knockd"])) + " (p99)"
		rows = append(rows, r)
	}
	return rows
}

// floodRows: a background flood of SYNs from 65,537 spoofed sources to
// the three knock ports and one other, at each rate, while a legitimate client
// knocks floodKnocks times (each from its own address, each checked with
// a real connect within 2 s).
func floodRows(b *testing.B, sz sizes) []row {
	var rows []row
	for _, rate := range sz.floodRates {
		name := fmt.Sprintf("%d/s", rate)
		if rate == 0 {
			name = "max rate"
		}
		r := row{figures: map[string]string{}}
		cpu := map[string]time.Duration{}
		var sent string
		for _, d := range daemons {
			b.Run(fmt.Sprintf("flood/%s/%s", strings.ReplaceAll(name, "/", "per"), d.name), func(b *testing.B) {
				lab := netlab.New(b, netlab.Config{Clients: 2, ExtraClientAddrs: sz.floodKnocks})
				p := d.start(b, lab, "command")
				legit, traffic := lab.Client(0), lab.Client(1)
				count := rate * int(sz.floodFor/time.Second)
				if rate == 0 {
					count = 50_000_000 // bounded by floodFor
				}
				// Mostly the knock ports, which both daemons must look at
				// (junk to other ports knockd's filter drops in the
				// kernel, and sesamed's only with the scan guard off),
				// in an order that never completes the knock: a source
				// sees 9000, 8000, 7000, 443, 9000, ...
				ports := []uint16{9000, 8000, 7000, 443}
				var res netlab.FloodResult
				var ferr error
				in := 0
				u := measure(b, p, func() {
					done := make(chan struct{})
					go func() {
						defer close(done)
						res, ferr = traffic.Flood(context.Background(), netlab.Flood{
							DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4,
							Sources: netip.MustParsePrefix("10.0.0.0/8"), Distinct: 65537, // coprime with 4 ports
							Kind: "syn", Ports: ports, Rate: rate, Count: count, Max: sz.floodFor,
						})
					}()
					gap := sz.floodFor / time.Duration(sz.floodKnocks+1)
					for _, src := range legit.Extra4[:sz.floodKnocks] {
						time.Sleep(gap / 2)
						if err := legit.KnockFrom([]netip.Addr{src}, lab.Server.V4, knocks(b), 0); err != nil {
							b.Fatal(err)
						}
						if _, err := legit.TimeToOpen(src, netip.AddrPortFrom(lab.Server.V4, doorPort), 2*time.Second); err == nil {
							in++
						}
					}
					<-done
				})
				if ferr != nil {
					b.Fatal(ferr)
				}
				sent = fmt.Sprintf("%.0f/s sent", res.Rate())
				r.figures[d.name] = fmt.Sprintf("%d/%d in; %v", in, sz.floodKnocks, u)
				cpu[d.name] = u.cpu
			})
		}
		r.scenario = fmt.Sprintf("background flood %s (%s, %v): legitimate knocks in; daemon CPU; peak RSS", name, sent, sz.floodFor)
		r.ratio = ratio(cpu["sesamed"].Seconds(), cpu["knockd"].Seconds()) + " (CPU)"
		rows = append(rows, r)
	}
	return rows
}

// spoofRows: n spoofed sources each send the first knock, as fast as the
// lab can send them; then one legitimate knock, timed to a usable door.
func spoofRows(b *testing.B, sz sizes) []row {
	var rows []row
	for _, n := range sz.spoofed {
		r := row{scenario: fmt.Sprintf("%d spoofed first knocks: legitimate knock in (time); daemon CPU; peak RSS", n), figures: map[string]string{}}
		cpu := map[string]time.Duration{}
		for _, d := range daemons {
			b.Run(fmt.Sprintf("spoofed/%d/%s", n, d.name), func(b *testing.B) {
				lab := netlab.New(b, netlab.Config{Clients: 2})
				p := d.start(b, lab, "command")
				legit, traffic := lab.Client(0), lab.Client(1)
				var took time.Duration
				var kerr error
				u := measure(b, p, func() {
					_, err := traffic.Flood(context.Background(), netlab.Flood{
						DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4,
						Sources: netip.MustParsePrefix("10.0.0.0/8"), Distinct: n,
						Kind: "syn", Ports: []uint16{7000}, Count: n, Max: 2 * time.Minute,
					})
					if err != nil {
						b.Fatal(err)
					}
					if err := legit.KnockFrom([]netip.Addr{legit.V4}, lab.Server.V4, knocks(b), 0); err != nil {
						b.Fatal(err)
					}
					took, kerr = legit.TimeToOpen(legit.V4, netip.AddrPortFrom(lab.Server.V4, doorPort), 30*time.Second)
				})
				in := "in after " + ms(took)
				if kerr != nil {
					in = "NOT in within 30 s"
				}
				r.figures[d.name] = fmt.Sprintf("%s; %v", in, u)
				cpu[d.name] = u.cpu
			})
		}
		r.ratio = ratio(cpu["sesamed"].Seconds(), cpu["knockd"].Seconds()) + " (CPU)"
		rows = append(rows, r)
	}
	return rows
}

// concurrentRows: n legitimate sources knock at once (first knocks of
// all, then second knocks, then third), and the door is asked how many it
// admits.
func concurrentRows(b *testing.B, sz sizes) []row {
	var rows []row
	for _, door := range []string{"native", "command"} {
		r := row{scenario: fmt.Sprintf("%d sources knocking at once, %s door: admitted", sz.concurrent, map[string]string{"native": "nftables", "command": "command"}[door]), figures: map[string]string{}}
		got := map[string]int{}
		for _, d := range daemons {
			b.Run(fmt.Sprintf("concurrent/%s/%s", door, d.name), func(b *testing.B) {
				lab := netlab.New(b, netlab.Config{Clients: 1, ExtraClientAddrs: sz.concurrent})
				d.start(b, lab, door)
				c := lab.Client(0)
				if err := c.KnockFrom(c.Extra4[:sz.concurrent], lab.Server.V4, knocks(b), 0); err != nil {
					b.Fatal(err)
				}
				// Commands take a while: wait until the count settles.
				n, last := 0, time.Now()
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && time.Since(last) < 2*time.Second && n < sz.concurrent; {
					time.Sleep(200 * time.Millisecond)
					if m := admitted(b, lab, door, d); m != n {
						n, last = m, time.Now()
					}
				}
				got[d.name] = n
				r.figures[d.name] = fmt.Sprintf("%d of %d", n, sz.concurrent)
			})
		}
		r.ratio = ratio(float64(got["sesamed"]), float64(got["knockd"])) + " (admitted)"
		rows = append(rows, r)
	}
	return rows
}
