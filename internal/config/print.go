package config

// Print is what `sesamed --check` shows: the configuration as sesame
// understood it, every default filled in, written back as knockd.conf.
// Writing it in the input format (rather than a report of its own) means
// the output can be diffed against the input, pasted back, and read again
// to the same model; a test holds Parse(Print(c)) equal to c.

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Print writes c as normalised knockd.conf: a header naming the source,
// [options], then every event with canonical key names, protocols
// explicit, timeouts and IPv6 commands resolved. Settings that are unset
// or at sesame's defaults are written as comments, so a file knockd could
// read stays one knockd can read.
func Print(w io.Writer, c *Config) error {
	bw := bufio.NewWriter(w)
	src := c.Source
	if src == "" {
		src = "(no file)"
	}
	fmt.Fprintf(bw, "# sesame: configuration read from %s (knockd.conf format), normalised\n", src)

	o := c.Options
	bw.WriteString("[options]\n")
	if o.UseSyslog {
		bw.WriteString("\tUseSyslog\n")
	}
	for _, v := range []string{o.LogFile, o.PidFile} {
		if err := printable("file name", v); err != nil {
			return err
		}
	}
	optLine(bw, "LogFile", o.LogFile, "not set: no log file")
	optLine(bw, "PidFile", o.PidFile, "not set: "+DefaultPidFile+" unless -p is given")
	for _, n := range o.Interfaces {
		if checkIfName(n) != "" {
			return fmt.Errorf("cannot print Interface %q as knockd.conf", n)
		}
	}
	optLine(bw, "Interface", strings.Join(o.Interfaces, ","), "not set: the interface of the default route unless -i is given")
	if o.ScanGuard {
		bw.WriteString("\t# ScanGuard = on (default)\n")
	} else {
		kv(bw, "ScanGuard", "off")
	}
	if o.MaxAttempts == DefaultMaxAttempts {
		fmt.Fprintf(bw, "\t# MaxAttempts = %d (default)\n", DefaultMaxAttempts)
	} else {
		kv(bw, "MaxAttempts", strconv.Itoa(o.MaxAttempts))
	}
	if err := printable("StateDir", o.StateDir); err != nil {
		return err
	}
	optLine(bw, "StateDir", o.StateDir, "not set: "+DefaultStateDir+" (the replay cache of TOTP and cipher knocks)")
	for _, c := range o.Capture {
		if c.Kind == CapturePcap && (strings.ContainsAny(c.File, ",\n\x00") || c.File != trimBlank(c.File)) {
			return fmt.Errorf("cannot print Capture pcap file %q as knockd.conf", c.File)
		}
	}
	optLine(bw, "Capture", FormatCapture(o.Capture), "not set: afpacket on the interfaces")

	for i := range c.Events {
		if err := printEvent(bw, &c.Events[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func printEvent(bw *bufio.Writer, ev *Event) error {
	// A name is written between brackets, so blanks at its ends survive.
	if ev.Name == "" || ev.Name == "options" || strings.ContainsAny(ev.Name, "\n\x00") {
		return fmt.Errorf("cannot print an event named %q as knockd.conf", ev.Name)
	}
	fmt.Fprintf(bw, "\n[%s]\n", ev.Name)
	switch {
	case ev.OneTimeFile != "":
		if err := printable("One_Time_Sequences", ev.OneTimeFile); err != nil {
			return err
		}
		kv(bw, "One_Time_Sequences", ev.OneTimeFile)
	case ev.TOTP != nil || ev.Cipher != nil:
		if err := printReplayProof(bw, ev); err != nil {
			return fmt.Errorf("event [%s]: %w", ev.Name, err)
		}
	default:
		for _, e := range ev.Sequence {
			if e.Flags.Exact || (e.Proto != packet.TCP && e.Proto != packet.UDP) {
				return fmt.Errorf("event [%s]: element %v cannot be written as knockd.conf", ev.Name, e)
			}
		}
		kv(bw, "Sequence", FormatSequence(ev.Sequence))
	}
	for _, d := range []time.Duration{ev.SeqTimeout, ev.CmdTimeout} {
		if d < 0 || d%time.Second != 0 {
			return fmt.Errorf("event [%s]: timeout %v is not whole seconds, as knockd.conf needs", ev.Name, d)
		}
	}
	kv(bw, "Seq_Timeout", secs(ev.SeqTimeout))
	printCheck(bw, ev)
	if ev.Flags.IsZero() {
		bw.WriteString("\t# TCPFlags not set: TCP packets with any flags count\n")
	} else {
		kv(bw, "TCPFlags", ev.Flags.String())
	}
	if ev.Target.IsValid() {
		kv(bw, "Target", ev.Target.String())
	}
	for _, c := range []struct{ key, val string }{
		{"Start_Command", ev.StartCommand}, {"Start_Command_6", ev.StartCommand6},
		{"Stop_Command", ev.StopCommand}, {"Stop_Command_6", ev.StopCommand6},
	} {
		if err := printable(c.key, c.val); err != nil {
			return fmt.Errorf("event [%s]: %w", ev.Name, err)
		}
	}
	// The _6 commands are written whenever either variant is set, even
	// when equal to the IPv4 one, so the reader sees what an IPv6 knock runs.
	if ev.StartCommand != "" || ev.StartCommand6 != "" {
		kv(bw, "Start_Command", ev.StartCommand)
		kv(bw, "Start_Command_6", ev.StartCommand6)
	}
	kv(bw, "Cmd_Timeout", secs(ev.CmdTimeout))
	if ev.StopCommand != "" || ev.StopCommand6 != "" {
		kv(bw, "Stop_Command", ev.StopCommand)
		kv(bw, "Stop_Command_6", ev.StopCommand6)
	}
	if len(ev.Open) > 0 {
		if ev.OpenTimeout <= 0 || ev.OpenTimeout%time.Second != 0 {
			return fmt.Errorf("event [%s]: Open_Timeout %v is not whole seconds", ev.Name, ev.OpenTimeout)
		}
		kv(bw, "Open", FormatPorts(ev.Open))
		kv(bw, "Open_Timeout", secs(ev.OpenTimeout))
		optLine(bw, "Firewall", ev.Firewall, "not set: nftables where the kernel has it, else iptables")
		if ev.Firewall == "" || ev.Firewall == FirewallNftables {
			optLine(bw, "Nft_Table", ev.NftTable, "not set: guard mode, sesame's own table inet sesame")
		}
		if ev.Firewall == FirewallFirewalld {
			optLine(bw, "Firewalld_Zone", ev.FirewalldZone, "not set: firewalld's default zone")
		}
	}
	return nil
}

// printable rejects values that cannot survive a trip through a line of
// knockd.conf (values are trimmed and end at a newline).
func printable(what, v string) error {
	if strings.ContainsAny(v, "\n\x00") || trimBlank(v) != v {
		return fmt.Errorf("cannot write %s %q as knockd.conf", what, v)
	}
	return nil
}

func secs(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}

func kv(bw *bufio.Writer, key, val string) {
	if val == "" {
		fmt.Fprintf(bw, "\t%-18s =\n", key)
		return
	}
	fmt.Fprintf(bw, "\t%-18s = %s\n", key, val)
}

func optLine(bw *bufio.Writer, key, val, unset string) {
	if val == "" {
		fmt.Fprintf(bw, "\t# %s %s\n", key, unset)
		return
	}
	kv(bw, key, val)
}
