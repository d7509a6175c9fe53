package daemon

import (
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/replay"
	"github.com/sesame-knock/sesame/internal/totp"
)

// replayEngine is an engine over real key files and a real replay cache
// in dir, on a fake clock.
type replayEngine struct {
	*engine
	door  *recordingDoor
	log   *lockedBuffer
	cache *replay.Cache
}

func newReplayEngine(t *testing.T, cfg *config.Config, dir string, clk *clock.Fake) *replayEngine {
	t.Helper()
	keys, err := LoadKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := replay.Open(filepath.Join(dir, "replay"), clk.Now(), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	log, _, err := newLogger(LogOptions{Stderr: &buf})
	if err != nil {
		t.Fatal(err)
	}
	d := &recordingDoor{}
	e := mustEngine(t, engineConfig{Events: cfg.Events, Keys: keys, Replay: cache, Door: d, Log: log, Clock: clk, ScanGuard: true, Budget: 1024})
	e.setLocal([]netip.Addr{netip.MustParseAddr("198.18.0.1")})
	r := &replayEngine{engine: e, door: d, log: &buf, cache: cache}
	t.Cleanup(r.stop)
	return r
}

// stop ends the engine and releases the replay cache, as a daemon does
// when it exits.
func (r *replayEngine) stop() {
	r.close()
	r.cache.Close()
}

func (r *replayEngine) knock(src string, proto packet.Proto, ports []uint16) {
	for _, p := range ports {
		h := &packet.Hit{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("198.18.0.1"), Proto: proto, DstPort: p}
		if proto == packet.TCP {
			h.Flags = packet.SYN
		}
		r.Hit(h)
	}
}

func (r *replayEngine) opens() int {
	r.door.mu.Lock()
	defer r.door.mu.Unlock()
	return len(r.door.opened)
}

func writeSecret(t *testing.T, path string, names ...string) map[string][]byte {
	t.Helper()
	secrets := map[string][]byte{}
	for _, n := range names {
		s, err := totp.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if err := totp.AddClient(path, n, s); err != nil {
			t.Fatal(err)
		}
		secrets[n] = s
	}
	return secrets
}

func TestTOTPKnocks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ssh.totp")
	secrets := writeSecret(t, file, "alice", "bob")
	tp := &config.TOTP{SecretFile: file, Proto: packet.TCP, Lo: 40000, Hi: 49999, Length: 4, Step: 30 * time.Second, Skew: 1}
	cfg := &config.Config{Events: []config.Event{{Name: "ssh", TOTP: tp, SeqTimeout: 10 * time.Second}}}
	// Five seconds into a step, so a step boundary is 25 s away.
	start := totp.StepStart(totp.Step(time.Unix(1_800_000_000, 0), tp.Step), tp.Step).Add(5 * time.Second)
	clk := clock.NewFake(start)
	r := newReplayEngine(t, cfg, dir, clk)
	cur := totp.Step(start, tp.Step)
	seqOf := func(who string, step uint64) []uint16 { return totp.Ports(secrets[who], step, tp.Lo, tp.Hi, tp.Length) }

	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur))
	if r.opens() != 1 || !strings.Contains(r.log.String(), `msg="OPEN SESAME" src=198.18.0.2 event=ssh stage=4/4 client=alice step=`) {
		t.Fatalf("alice's current sequence did not open (%d opens):\n%s", r.opens(), r.log)
	}
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur))
	r.knock("198.18.0.9", packet.TCP, seqOf("alice", cur))
	if r.opens() != 1 {
		t.Fatalf("a replayed sequence opened again (%d opens)", r.opens())
	}
	if n := strings.Count(r.log.String(), `msg="failed: replayed knock"`); n != 2 {
		t.Errorf("%d replay lines, want 2:\n%s", n, r.log)
	}
	// Per-client secrets: alice's use does not burn bob's step.
	r.knock("198.18.0.3", packet.TCP, seqOf("bob", cur))
	// Neighbouring steps are accepted, once each; two away is not.
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur+1))
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur-1))
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur+2))
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur-2))
	if r.opens() != 4 {
		t.Fatalf("%d opens, want 4 (alice now, bob now, alice ±1):\n%s", r.opens(), r.log)
	}

	// The clock enters the next step: cur+2 comes into the window.
	clk.Advance(25 * time.Second)
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur+2))
	r.knock("198.18.0.2", packet.TCP, seqOf("alice", cur-1)) // left the window
	if r.opens() != 5 {
		t.Fatalf("%d opens after the step, want 5:\n%s", r.opens(), r.log)
	}

	// A client enrolled while the daemon runs knocks from the next step on.
	carol := writeSecret(t, file, "carol")["carol"]
	clk.Advance(tp.Step)
	now := totp.Step(clk.Now(), tp.Step)
	r.knock("198.18.0.4", packet.TCP, totp.Ports(carol, now, tp.Lo, tp.Hi, tp.Length))
	if r.opens() != 6 || !strings.Contains(r.log.String(), "TOTP secrets reloaded") {
		t.Fatalf("the new client was not taken (%d opens):\n%s", r.opens(), r.log)
	}

	// A restarted daemon still refuses what was used.
	r.stop()
	r2 := newReplayEngine(t, cfg, dir, clk)
	r2.knock("198.18.0.2", packet.TCP, seqOf("alice", cur+2))
	r2.knock("198.18.0.4", packet.TCP, totp.Ports(carol, now, tp.Lo, tp.Hi, tp.Length))
	if r2.opens() != 0 || strings.Count(r2.log.String(), "failed: replayed knock") != 2 {
		t.Fatalf("a restart forgot the used steps (%d opens):\n%s", r2.opens(), r2.log)
	}
	r2.knock("198.18.0.3", packet.TCP, seqOf("bob", now))
	if r2.opens() != 1 {
		t.Fatalf("bob's fresh step did not open after the restart:\n%s", r2.log)
	}
}

func TestCipherKnocks(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "vpn.key")
	key, err := cipherknock.NewKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Cipher{KeyFile: keyFile, Proto: packet.UDP, Base: 61000, MaxAge: 60 * time.Second}
	other := *c
	cfg := &config.Config{Events: []config.Event{
		{Name: "vpn", Cipher: c, SeqTimeout: 10 * time.Second},
		{Name: "web", Cipher: &other, SeqTimeout: 10 * time.Second}, // same key and window
	}}
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	r := newReplayEngine(t, cfg, dir, clk)
	ciph := cipherknock.NewCipher(key)
	seal := func(event string, at time.Time) []uint16 {
		b, err := ciph.Seal(event, at, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p := cipherknock.Ports(b, c.Base)
		return p[:]
	}

	ports := seal("vpn", clk.Now())
	r.knock("198.18.0.2", packet.UDP, ports)
	if r.opens() != 1 || r.door.opened[0] != "vpn 198.18.0.2" {
		t.Fatalf("a fresh block did not open vpn alone: %v\n%s", r.door.opened, r.log)
	}
	r.knock("198.18.0.2", packet.UDP, ports)
	r.knock("198.18.0.7", packet.UDP, ports)
	tampered := append([]uint16(nil), seal("vpn", clk.Now())...)
	tampered[7] = c.Base + uint16((tampered[7]-c.Base+1)%256)
	if tampered[7] == tampered[6] || tampered[7] == tampered[8] {
		tampered[7] = c.Base + uint16((tampered[7]-c.Base+1)%256)
	}
	// A tampered block never completes: it waits in the window for a
	// block that does decrypt, and times out.
	r.knock("198.18.0.5", packet.UDP, tampered)
	clk.Advance(11 * time.Second)
	r.knock("198.18.0.2", packet.UDP, seal("vpn", clk.Now().Add(-61*time.Second)))
	r.knock("198.18.0.2", packet.UDP, seal("vpn", clk.Now().Add(61*time.Second)))
	if r.opens() != 1 {
		t.Fatalf("%d opens, want 1: a replay, a tampered or a stale block opened:\n%s", r.opens(), r.log)
	}
	for _, want := range []string{
		`msg="failed: replayed knock" src=198.18.0.2 event=vpn`, `msg="failed: replayed knock" src=198.18.0.7 event=vpn`,
		`msg=timeout src=198.18.0.5 event=vpn stage=16/16`,
		`msg="failed: stale cipher knock" src=198.18.0.2 event=vpn`,
	} {
		if !strings.Contains(r.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, r.log)
		}
	}
	r.knock("198.18.0.2", packet.UDP, seal("web", clk.Now().Add(-59*time.Second)))
	if r.opens() != 2 || r.door.opened[1] != "web 198.18.0.2" {
		t.Fatalf("a block for web did not open web alone: %v\n%s", r.door.opened, r.log)
	}

	r.stop()
	r2 := newReplayEngine(t, cfg, dir, clk)
	r2.knock("198.18.0.2", packet.UDP, ports)
	if r2.opens() != 0 {
		t.Fatalf("a restart forgot the used block:\n%s", r2.log)
	}
}

func TestLoadKeysNamesEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte("key = "+cipherknock.FormatKey(cipherknock.NewKey())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Events: []config.Event{
		{Name: "a", Pos: config.Pos{File: "k.conf", Line: 3}, TOTP: &config.TOTP{SecretFile: filepath.Join(dir, "missing")}},
		{Name: "b", Pos: config.Pos{File: "k.conf", Line: 9}, Cipher: &config.Cipher{KeyFile: open}},
	}}
	_, err := LoadKeys(cfg)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "k.conf:3: event [a]: ") || !strings.HasPrefix(lines[1], "k.conf:9: event [b]: ") || !strings.Contains(lines[1], "too open") {
		t.Fatalf("error:\n%v", err)
	}
}

// With many clients, a client's knock often starts another lane by
// chance; that lane's failure must not read as a failed knock.
func TestTOTPChanceLanesLogNoFailure(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ssh.totp")
	names := make([]string, 300)
	for i := range names {
		names[i] = "c" + strings.Repeat("x", i%3) + itoa(i)
	}
	secrets := writeSecret(t, file, names...)
	// 900 lanes over 2000 ports: most first ports start some other lane.
	tp := &config.TOTP{SecretFile: file, Proto: packet.TCP, Lo: 40000, Hi: 41999, Length: 4, Step: 30 * time.Second, Skew: 1}
	cfg := &config.Config{Events: []config.Event{{Name: "ssh", TOTP: tp, SeqTimeout: 10 * time.Second}}}
	clk := clock.NewFake(time.Unix(1_800_000_005, 0))
	r := newReplayEngine(t, cfg, dir, clk)
	cur := totp.Step(clk.Now(), tp.Step)
	for i, n := range names {
		r.knock("198.18."+itoa(1+i/250)+"."+itoa(i%250+1), packet.TCP, totp.Ports(secrets[n], cur, tp.Lo, tp.Hi, tp.Length))
	}
	if r.opens() != len(names) {
		t.Fatalf("%d opens for %d clients", r.opens(), len(names))
	}
	if strings.Contains(r.log.String(), "failed") {
		t.Fatalf("honest knocks logged failures:\n%s", r.log)
	}
	if n := strings.Count(r.log.String(), "stage=1/4 hit="); n != 0 {
		t.Fatalf("%d chance failures logged", n)
	}
}

// A step timer that fires late (a suspended host) must not leave the
// lanes behind: the next hit moves them on, and a step that left the
// window opens nothing.
func TestTOTPLateStepTimer(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ssh.totp")
	secret := writeSecret(t, file, "alice")["alice"]
	tp := &config.TOTP{SecretFile: file, Proto: packet.TCP, Lo: 40000, Hi: 49999, Length: 4, Step: 30 * time.Second, Skew: 0}
	cfg := &config.Config{Events: []config.Event{{Name: "ssh", TOTP: tp, SeqTimeout: 10 * time.Second}}}
	clk := clock.NewFake(time.Unix(1_800_000_005, 0))
	r := newReplayEngine(t, cfg, dir, clk)
	cur := totp.Step(clk.Now(), tp.Step)
	r.mu.Lock()
	r.stepper.Stop()
	r.mu.Unlock()
	clk.Advance(30 * time.Second)
	r.knock("198.18.0.2", packet.TCP, totp.Ports(secret, cur, tp.Lo, tp.Hi, tp.Length))
	if r.opens() != 0 {
		t.Fatalf("a step that left the window opened:\n%s", r.log)
	}
	r.knock("198.18.0.2", packet.TCP, totp.Ports(secret, cur+1, tp.Lo, tp.Hi, tp.Length))
	if r.opens() != 1 {
		t.Fatalf("the current step did not open with a late timer:\n%s", r.log)
	}
}

// Near the epoch (a host that booted without a clock) the window is
// clamped, not wrapped: the lanes exist and follow the clock.
func TestTOTPNearTheEpoch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ssh.totp")
	secret := writeSecret(t, file, "alice")["alice"]
	tp := &config.TOTP{SecretFile: file, Proto: packet.TCP, Lo: 40000, Hi: 49999, Length: 4, Step: 30 * time.Second, Skew: 2}
	cfg := &config.Config{Events: []config.Event{{Name: "ssh", TOTP: tp, SeqTimeout: 10 * time.Second}}}
	clk := clock.NewFake(time.Unix(12, 0))
	r := newReplayEngine(t, cfg, dir, clk)
	if len(r.lanes) != 5 {
		t.Fatalf("%d lanes at step 0, want 5", len(r.lanes))
	}
	// NTP sets the clock, decades on; the step timer has not fired yet
	// (a fake clock would otherwise fire it once per step on the way).
	r.mu.Lock()
	r.stepper.Stop()
	r.mu.Unlock()
	clk.Advance(time.Since(time.Unix(12, 0)))
	now := totp.Step(clk.Now(), tp.Step)
	r.knock("198.18.0.2", packet.TCP, totp.Ports(secret, now, tp.Lo, tp.Hi, tp.Length))
	if r.opens() != 1 {
		t.Fatalf("no open after the clock was set:\n%s", r.log)
	}
}
