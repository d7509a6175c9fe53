package config

import (
	"strings"
	"testing"
)

// Each format's warnings speak its own words.
func TestWarningsSpeakTheFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parse func(string, []byte) (*Config, error)
		in    string
		want  []string
	}{
		{"tportknockd: no start_command", ParseTportknockd, "<a>\nsequence = tcp:7000 udp:9\n</a>\n",
			[]string{"t.conf:1: event <a> has no start_command: a successful knock does nothing"}},
		{"tportknockd: consecutive frames, written as frames", ParseTportknockd, "<web>\nsequence = tcp:7000:i tcp:7001:s tcp:7002\nstart_command = x\n</web>\n",
			[]string{"t.conf:1: event <web>: sequence tcp:7000:i tcp:7001:s tcp:7002:n is consecutive ascending ports: a sequential port scan walks it"}},
		{"tportknockd: one frame", ParseTportknockd, "<a>\nsequence = udp:53\nstart_command = x\n</a>\n",
			[]string{"t.conf:1: event <a>: a one-port sequence (udp:53) is opened by any scan that touches that port"}},
		{"tportknockd: no blocks", ParseTportknockd, "# nothing\n",
			[]string{"t.conf: no events (no <NAME> ... </NAME> blocks): nothing will ever be opened"}},
		{"knockd.conf keeps its words", ParseKnockd, "[a]\nsequence = 1\n",
			[]string{"t.conf:1: event [a] has no Start_Command and no Open: a successful knock does nothing", "t.conf:1: event [a]: a one-port sequence (1:tcp) is opened by any scan that touches that port"}},
		{"port-knocking-doors: its own example", ParsePortKnocker, "ports_to_controls = [22]\nopening_sequence = [16001,16002,16003,16004,16005]\n",
			[]string{"t.conf:2: opening_sequence [16001, 16002, 16003, 16004, 16005] is the example of port-knocking-doors' help: anyone who has read it can knock; choose your own ports"}},
		{"port-knocking-doors: consecutive ports of one's own are not walked", ParsePortKnocker, "ports_to_controls = [22]\nopening_sequence = [20001,20002,20003,20004,20005]\n", nil},
		{"UDP sockets: no scan guard, and the ports show", ParseKnockd, "[options]\nCapture = udp\n[a]\nSequence = 1:udp,5:udp,9:udp\nUDP_Payload = knock\\n\nStart_Command = x\n",
			[]string{"t.conf: Capture = udp: the scan guard cannot work, since UDP sockets see only the sequence ports; and a bound port answers no ICMP port-unreachable, so a UDP scan tells the knock ports from closed ones (only their order stays secret). Prefer afpacket or nflog:GROUP, or drop unsolicited UDP in the firewall",
				`t.conf:3: event [a]: sequence 1:udp,5:udp,9:udp is ascending and Capture = udp sees only the sequence ports (no scan guard): a sequential scan that sends the payload knock\n to every port walks it (other scans fail on the payload)`}},
		{"port-knocking-doors: no lockout is fine", ParsePortKnocker, "ports_to_controls = [22]\nopening_sequence = [9,7,5,3,1]\nignoring_period_after_knock_error = 0\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.parse("t.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDiff(t, "warnings", strings.Join(tt.want, "\n"), strings.Join(c.Warnings(), "\n"))
		})
	}
	// A door from -m/KNOCKER_SEQ has no file line; its sequence is the magic sequence.
	c, err := PortKnockerFromLists("16001,16002,16003,16004,16005", "22", "environment (KNOCKER_SEQ/KNOCKER_PORTS)")
	if err != nil {
		t.Fatal(err)
	}
	checkDiff(t, "warnings", "environment (KNOCKER_SEQ/KNOCKER_PORTS): magic sequence [16001, 16002, 16003, 16004, 16005] is the example of port-knocking-doors' help: anyone who has read it can knock; choose your own ports",
		strings.Join(c.Warnings(), "\n"))
}

// A UDP sequence whose knocks must carry a payload is not walked by a port
// scan: a scanner's datagrams are empty or carry a protocol's probe, and
// fail the payload check at the first sequence port; with the scan guard,
// its datagrams to other ports fail the attempt too. Only a sweep that
// sends the payload itself could walk it, which the guard stops unless the
// ports are consecutive; with the guard off it walks any ascending
// sequence, and that is said.
func TestScanWalksWithPayload(t *testing.T) {
	t.Parallel()
	const (
		consecutiveUDP = "sequence = 16001:udp,16002:udp,16003:udp,16004:udp,16005:udp\n"
		ascendingUDP   = "sequence = 1000:udp,2000:udp,3000:udp\n"
		guardOff       = "[options]\nScanGuard = off\n"
	)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"consecutive UDP with a payload, guard on", "[e]\n" + consecutiveUDP + "UDP_Payload = knock\\n\nOpen = 22\n", nil},
		{"one UDP port with a payload, guard on", "[e]\nsequence = 53:udp\nUDP_Payload = s3cret\nOpen = 22\n", nil},
		{"consecutive UDP without a payload still warns", "[e]\n" + consecutiveUDP + "Open = 22\n",
			[]string{"k.conf:1: event [e]: sequence 16001:udp,16002:udp,16003:udp,16004:udp,16005:udp is consecutive ascending ports: a sequential port scan walks it"}},
		{"consecutive TCP with a payload still warns (the payload is for UDP knocks)", "[e]\nsequence = 7000,7001,7002\nUDP_Payload = x\nOpen = 22\n",
			[]string{"k.conf:1: event [e]: sequence 7000:tcp,7001:tcp,7002:tcp is consecutive ascending ports: a sequential port scan walks it"}},
		{"consecutive UDP with a payload, guard off", guardOff + "[e]\n" + consecutiveUDP + "UDP_Payload = knock\\n\nOpen = 22\n",
			[]string{`k.conf:3: event [e]: sequence 16001:udp,16002:udp,16003:udp,16004:udp,16005:udp is ascending and ScanGuard is off: a sequential scan that sends the payload knock\n to every port walks it (other scans fail on the payload)`}},
		{"ascending UDP with a payload, guard off", guardOff + "[e]\n" + ascendingUDP + "UDP_Payload = hi\nOpen = 22\n",
			[]string{`k.conf:3: event [e]: sequence 1000:udp,2000:udp,3000:udp is ascending and ScanGuard is off: a sequential scan that sends the payload hi to every port walks it (other scans fail on the payload)`}},
		{"descending UDP with a payload, guard off", guardOff + "[e]\nsequence = 3:udp,2:udp,1:udp\nUDP_Payload = hi\nOpen = 22\n", nil},
		{"ascending UDP without a payload, guard off", guardOff + "[e]\n" + ascendingUDP + "Open = 22\n",
			[]string{"k.conf:3: event [e]: sequence 1000:udp,2000:udp,3000:udp is ascending and ScanGuard is off: a sequential port scan walks it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseKnockd("k.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDiff(t, "warnings", strings.Join(tt.want, "\n"), strings.Join(c.Warnings(), "\n"))
		})
	}
}
