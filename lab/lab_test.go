//go:build linux

package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// binPath holds the daemons under test: sesamed built from this tree
// (as shipped: no cgo), and Debian's knockd.
var binPath = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sesame-lab-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(2)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sesamed"), "./cmd/sesamed")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "lab: go build ./cmd/sesamed: %v\n%s", err, out)
		os.Exit(2)
	}
	binPath["sesamed"] = filepath.Join(dir, "sesamed")
	if p, err := exec.LookPath("knockd"); err == nil {
		binPath["knockd"] = p
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sizes are the counts of a run: SESAME_LAB=short for CI, else the full run.
type sizes struct {
	name          string
	latencyKnocks int           // knocks per latency figure (≥ 200 in the full run)
	floodRates    []int         // background flood rates, packets/s (0: as fast as the lab can send)
	floodFor      time.Duration // how long each background flood lasts
	floodKnocks   int           // legitimate knocks during each background flood
	spoofed       []int         // distinct spoofed sources, one first knock each
	concurrent    int           // legitimate sources knocking at once
}

func runSizes() sizes {
	if os.Getenv("SESAME_LAB") == "short" {
		return sizes{name: "short", latencyKnocks: 20, floodRates: []int{20000, 0}, floodFor: 2 * time.Second, floodKnocks: 5,
			spoofed: []int{1000, 10000}, concurrent: 200}
	}
	return sizes{name: "full", latencyKnocks: 200, floodRates: []int{10000, 50000, 100000, 0}, floodFor: 10 * time.Second, floodKnocks: 20,
		spoofed: []int{1000, 10000, 100000, 1000000}, concurrent: 1000}
}

const (
	doorPort = 2222
	seqPorts = "7000,8000,9000"
)

// daemon is one daemon under comparison and how to give it a door.
type daemon struct {
	name string
	// conf is its configuration for a door: "native" (sesamed's own
	// nftables door; knockd has none and runs the nft command instead)
	// or "command" (Start_Command = nft add element ...).
	conf  func(door string, lab *netlab.Lab) string
	args  func(conf string, lab *netlab.Lab) []string
	ready string // a log line containing this says it is listening
}

const commandDoor = "\tStart_Command = nft add element inet lab allow4 { %IP% }\n"

var daemons = []daemon{
	{
		name: "sesamed",
		conf: func(door string, lab *netlab.Lab) string {
			c := "[door]\n\tSequence = " + seqPorts + "\n\tSeq_Timeout = 5\n\tTCPFlags = syn\n"
			if door == "native" {
				return c + fmt.Sprintf("\tOpen = tcp:%d\n\tOpen_Timeout = 600\n", doorPort)
			}
			return c + commandDoor
		},
		args: func(conf string, lab *netlab.Lab) []string {
			return []string{"-c", conf, "-i", lab.Server.IfName, "--control-socket", "none"}
		},
		ready: "msg=ready",
	},
	{
		name: "knockd",
		conf: func(_ string, lab *netlab.Lab) string {
			return "[options]\n\tInterface = " + lab.Server.IfName + "\n[door]\n\tSequence = " + seqPorts + "\n\tSeq_Timeout = 5\n\tTCPFlags = syn\n" + commandDoor
		},
		// -v only to see that it listens: knockd prints its stage lines
		// with it too, which costs it a write per knock packet; its
		// figures here include that (knockd has no quieter way to say it
		// is ready).
		args: func(conf string, lab *netlab.Lab) []string {
			return []string{"-c", conf, "-i", lab.Server.IfName, "-v"}
		},
		ready: "listening on",
	},
}

// start writes d's configuration for door and starts it in the server
// namespace, with the door's port guarded: by sesamed itself for its
// native door, else by the lab's own rules, which the command opens.
func (d daemon) start(b *testing.B, lab *netlab.Lab, door string) *netlab.Proc {
	b.Helper()
	path, ok := binPath[d.name]
	if !ok {
		netlab.SkipOrFail(b, "%s is not installed (apt-get install knockd)", d.name)
	}
	if d.name == "sesamed" && door == "native" {
		lab.Server.Echo(b, doorPort)
	} else {
		lab.Server.Protect(b, doorPort)
	}
	dir := b.TempDir()
	conf := filepath.Join(dir, "daemon.conf")
	if err := os.WriteFile(conf, []byte(d.conf(door, lab)), 0o600); err != nil {
		b.Fatal(err)
	}
	p := lab.Server.Start(b, filepath.Join(dir, d.name+".log"), path, d.args(conf, lab)...)
	if _, err := p.WaitLog(d.ready, 10*time.Second); err != nil {
		b.Fatalf("%s did not get ready: %v\n%s", d.name, err, p.Log())
	}
	time.Sleep(200 * time.Millisecond) // knockd says it listens just before its pcap loop
	return p
}

func knocks(b *testing.B) []netlab.Knock {
	seq, err := netlab.ParseKnocks(seqPorts)
	if err != nil {
		b.Fatal(err)
	}
	return seq
}

// usage is what a daemon cost over a scenario: its own CPU time, its
// commands' (a command door forks nft once per knock, the same work for
// both daemons), and its peak resident memory.
type usage struct {
	cpu, commands time.Duration
	peak          uint64 // bytes
}

func (u usage) String() string {
	return fmt.Sprintf("CPU %.2f s (+ commands %.2f s); peak RSS %s", u.cpu.Seconds(), u.commands.Seconds(), mib(u.peak))
}

func measure(b *testing.B, p *netlab.Proc, run func()) usage {
	b.Helper()
	before, err := netlab.ProcStat(p.Pid())
	if err != nil {
		b.Fatal(err)
	}
	run()
	after, err := netlab.ProcStat(p.Pid())
	if err != nil {
		b.Fatalf("%s: %v (did it die?)\n%s", p.Name, err, p.Log())
	}
	return usage{cpu: after.CPU - before.CPU, commands: after.ChildCPU - before.ChildCPU, peak: after.PeakRSS}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

var ipv4 = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`)

// admitted counts the addresses a door admits now: the lab's command
// door set, or sesame's own set for its native door.
func admitted(b *testing.B, lab *netlab.Lab, door string, d daemon) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	set := []string{"list", "set", "inet", "lab", "allow4"}
	if d.name == "sesamed" && door == "native" {
		set = []string{"list", "set", "inet", "sesame", "sesame_v4"}
	}
	out, err := lab.Server.Run(ctx, "nft", set...)
	if err != nil {
		b.Fatalf("nft %v: %v\n%s", set, err, out)
	}
	return len(ipv4.FindAll(out, -1))
}
