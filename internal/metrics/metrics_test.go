package metrics

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestReasonNames pins the names: they are JSON keys and Prometheus label
// values, so changing one breaks dashboards and scripts.
func TestReasonNames(t *testing.T) {
	t.Parallel()
	want := []string{"wrong_port", "timeout", "lone_knock", "stray", "replayed", "stale", "forged", "refused", "evicted"}
	var got []string
	for _, r := range Reasons() {
		got = append(got, r.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reason names (-want +got):\n%s", diff)
	}
	if got := Reason(200).String(); got != "unknown" {
		t.Errorf("Reason(200) = %q, want unknown", got)
	}
}

// sample is the snapshot the golden files show.
func sample() Snapshot {
	var c Counters
	for range 1234 {
		c.Hit()
	}
	for range 17 {
		c.Opened()
	}
	for range 3 {
		c.Fail(WrongPort)
	}
	c.Fail(Timeout)
	for range 40 {
		c.Fail(LoneKnock)
	}
	c.Fail(Replayed)
	c.Fail(Forged)
	c.Reloaded()
	c.Reloaded()
	c.ReloadFailed()
	started := time.Date(2026, 11, 21, 9, 14, 0, 250e6, time.UTC)
	return c.Snapshot(started.Add(3*time.Hour+2*time.Minute+1500*time.Millisecond), State{
		Version: "v0.4.0", Config: "/etc/knockd.conf", Started: started,
		AttemptsInProgress: 2, DoorsOpen: 1, PendingStops: 1,
		Captures: []Capture{
			{Name: "eth0", Packets: 1302, Drops: 0, Undecodable: 2},
			{Name: "wg0", Packets: 88, Drops: 11, Undecodable: 0},
		},
	})
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	s := sample()
	if s.Hits != 1234 || s.DoorsOpened != 17 || s.Reloads != 2 || s.ReloadFailures != 1 {
		t.Errorf("counters = hits %d, opened %d, reloads %d, reload failures %d; want 1234, 17, 2, 1", s.Hits, s.DoorsOpened, s.Reloads, s.ReloadFailures)
	}
	want := map[string]uint64{"wrong_port": 3, "timeout": 1, "lone_knock": 40, "stray": 0, "replayed": 1, "stale": 0, "forged": 1, "refused": 0, "evicted": 0}
	if diff := cmp.Diff(want, s.Failures); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if got, want := s.Uptime(), 3*time.Hour+2*time.Minute+1500*time.Millisecond; got != want {
		t.Errorf("Uptime = %v, want %v", got, want)
	}
	if got := (Snapshot{}).Uptime(); got != 0 {
		t.Errorf("Uptime without a start time = %v, want 0", got)
	}
}

// TestSnapshotJSON pins the JSON the control socket sends, and checks it
// reads back unchanged.
func TestSnapshotJSON(t *testing.T) {
	t.Parallel()
	s := sample()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "snapshot.json", string(b)+"\n")
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("after a JSON round trip (-want +got):\n%s", diff)
	}
	empty, err := json.Marshal((&Counters{}).Snapshot(time.Time{}, State{}))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "snapshot-empty.json", string(empty)+"\n")
}

// TestCountersAllocate: the engine counts on the capture path, which
// allocates nothing per packet.
func TestCountersAllocate(t *testing.T) {
	var c Counters
	allocs := testing.AllocsPerRun(1000, func() {
		c.Hit()
		c.Opened()
		c.Fail(WrongPort)
		c.Fail(Evicted)
		c.Fail(numReasons) // ignored
		c.Reloaded()
		c.ReloadFailed()
	})
	if allocs != 0 {
		t.Errorf("counting allocates %v times per run, want 0", allocs)
	}
	if got := c.Failures(WrongPort); got != 1001 { // AllocsPerRun runs once more to warm up
		t.Errorf("Failures(WrongPort) = %d, want 1001", got)
	}
	if got := c.Failures(numReasons); got != 0 {
		t.Errorf("Failures(unknown) = %d, want 0", got)
	}
}

func BenchmarkHit(b *testing.B) {
	var c Counters
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Hit()
		}
	})
}
