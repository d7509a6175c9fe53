package config

import (
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// The example configurations of the documents sesame was started from
// (/work/shared/seeds), copied into testdata unchanged, load by content and
// mean what each document says.
func TestSeedExamples(t *testing.T) {
	t.Parallel()
	load := func(t *testing.T, path, format string) *Config {
		t.Helper()
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Format != format {
			t.Fatalf("%s read as %q, want %q", path, c.Format, format)
		}
		return c
	}

	// 000, tportknockd: "the tportknockd has to receive the whole
	// knock-sequence within 10 seconds ... After 30 seconds the firewall
	// will be closed again"; the OpenVPN event has no stop_command; SSH2
	// knocks five flag combinations on port 110.
	t.Run("000 tportknockd", func(t *testing.T) {
		c := load(t, "testdata/tportknockd-doc.conf", FormatTportknockd)
		if len(c.Events) != 3 {
			t.Fatalf("%d events, want SSH, OpenVPN, SSH2", len(c.Events))
		}
		for i, want := range []struct {
			name, seq, start, stop string
			delay                  time.Duration
		}{
			{"SSH", "udp:1234 tcp:543:n tcp:543:i tcp:123:frpa tcp:434:x tcp:2345:n", "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT", "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT", 30 * time.Second},
			{"OpenVPN", "tcp:12430:a tcp:2711:i tcp:123:i tcp:8375:n tcp:1155:n", "/bin/openvpn --remote %IP% --config /opt/openvpn/client.conf", "", DefaultCmdTimeout},
			{"SSH2", "tcp:110:x tcp:110:pu tcp:110:pu tcp:110:n tcp:110:i", "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT", "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT", 30 * time.Second},
		} {
			ev := c.Events[i]
			seq, err := FormatTportSequence(ev.Sequence)
			if ev.Name != want.name || err != nil || seq != want.seq || ev.SeqTimeout != 10*time.Second ||
				ev.StartCommand != want.start || ev.StopCommand != want.stop || ev.CmdTimeout != want.delay {
				t.Errorf("event %d: %s %q (%v) timeout %v start %q stop %q delay %v; want %+v", i, ev.Name, seq, err, ev.SeqTimeout, ev.StartCommand, ev.StopCommand, ev.CmdTimeout, want)
			}
		}
	})

	// 002, port-knocking-doors' --show-configuration-file-help: port 22
	// opened for knockers who send "knock\n" to 16001...16005, 5 s of
	// lockout after an error, 30 s to knock, doors open 10 s.
	t.Run("002 port-knocking-doors", func(t *testing.T) {
		c := load(t, "testdata/port_knocker-doc.toml", FormatPortKnocker)
		if len(c.Events) != 1 {
			t.Fatalf("%d events", len(c.Events))
		}
		ev := c.Events[0]
		if got := FormatSequence(ev.Sequence); got != "16001:udp,16002:udp,16003:udp,16004:udp,16005:udp" {
			t.Errorf("sequence %s", got)
		}
		if ev.Payload != "knock\n" || ev.Lockout != 5*time.Second || ev.SeqTimeout != 30*time.Second || ev.OpenTimeout != 10*time.Second {
			t.Errorf("payload %q lockout %v live %v door %v", ev.Payload, ev.Lockout, ev.SeqTimeout, ev.OpenTimeout)
		}
		if len(ev.Open) != 1 || ev.Open[0] != (Port{packet.TCP, 22}) || ev.Firewall != "" || ev.StartCommand != "" {
			t.Errorf("door %s firewall %q command %q; want tcp:22 on the default firewall", FormatPorts(ev.Open), ev.Firewall, ev.StartCommand)
		}
	})

	// 004, the knockd walkthrough's Listing 1: knock -v 10.0.0.42 7000
	// 8000 9000 opens SSH (iptables -A), 9000 8000 7000 closes it, each
	// within 5 s, SYN packets only, logged to /var/log/knockd.log.
	t.Run("004 knockd walkthrough", func(t *testing.T) {
		c := load(t, "testdata/magazine.conf", FormatKnockd)
		if c.Options.LogFile != "/var/log/knockd.log" || len(c.Events) != 2 {
			t.Fatalf("logfile %q, %d events", c.Options.LogFile, len(c.Events))
		}
		for i, want := range []struct{ name, seq, cmd string }{
			{"openSSH", "7000:tcp,8000:tcp,9000:tcp", "/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"},
			{"closeSSH", "9000:tcp,8000:tcp,7000:tcp", "/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"},
		} {
			ev := c.Events[i]
			if ev.Name != want.name || FormatSequence(ev.Sequence) != want.seq || ev.SeqTimeout != 5*time.Second ||
				ev.StartCommand != want.cmd || ev.StartCommand6 != want.cmd || ev.Flags.String() != "syn" || ev.StopCommand != "" {
				t.Errorf("event %d: %s %s %v %q flags %q", i, ev.Name, FormatSequence(ev.Sequence), ev.SeqTimeout, ev.StartCommand, ev.Flags.String())
			}
		}
	})
}
