package metrics

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteText writes s for people, as sesamed --status shows it: a heading,
// then one aligned "name  value" line per number, the failures by reason,
// and a table of the capture sources. The layout is stable; scripts should
// still prefer the JSON (sesamed --status --json) or Prometheus forms.
func WriteText(w io.Writer, s Snapshot) error {
	var b strings.Builder
	b.WriteString("sesamed")
	if s.Version != "" {
		b.WriteString(" " + oneLine(s.Version))
	}
	b.WriteString("\n")

	config := oneLine(s.Config)
	if config == "" {
		config = "-"
	}
	started := "unknown"
	if !s.Started.IsZero() {
		started = s.Started.Format(time.RFC3339) + " (up " + s.Uptime().Truncate(time.Second).String() + ")"
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	i := func(n int) string { return strconv.Itoa(n) }
	rows := []row{
		{name: "config", text: config},
		{name: "started", text: started},
		{},
		{name: "hits", num: u(s.Hits)},
		{name: "attempts in progress", num: i(s.AttemptsInProgress)},
		{name: "doors opened", num: u(s.DoorsOpened)},
		{name: "doors open", num: i(s.DoorsOpen)},
		{name: "pending stop commands", num: i(s.PendingStops)},
		{name: "reloads", num: u(s.Reloads)},
		{name: "reload failures", num: u(s.ReloadFailures)},
		{name: "failures"},
	}
	for _, name := range s.failureNames() {
		rows = append(rows, row{name: "  " + oneLine(name), num: u(s.Failures[name])})
	}
	writeRows(&b, rows)

	b.WriteString("\n")
	if len(s.Captures) == 0 {
		b.WriteString("capture  none\n")
	} else {
		table := [][]string{{"capture", "packets", "drops", "undecodable"}}
		for _, c := range s.Captures {
			table = append(table, []string{oneLine(c.Name), u(c.Packets), u(c.Drops), u(c.Undecodable)})
		}
		writeTable(&b, table)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// row is one line of the status: a name, then a text (left-aligned) or a
// number (right-aligned), or neither (a heading; a blank line if it has no
// name either).
type row struct{ name, text, num string }

// writeRows writes rows with their values in one column.
func writeRows(b *strings.Builder, rows []row) {
	nw, vw := 0, 0
	for _, r := range rows {
		if r.text != "" || r.num != "" {
			nw = max(nw, utf8.RuneCountInString(r.name))
		}
		vw = max(vw, utf8.RuneCountInString(r.num))
	}
	for _, r := range rows {
		b.WriteString(r.name)
		switch {
		case r.text != "":
			b.WriteString(strings.Repeat(" ", nw-utf8.RuneCountInString(r.name)+2) + r.text)
		case r.num != "":
			b.WriteString(strings.Repeat(" ", nw-utf8.RuneCountInString(r.name)+2+vw-utf8.RuneCountInString(r.num)) + r.num)
		}
		b.WriteString("\n")
	}
}

// writeTable writes rows with the first column left-aligned and the
// others right-aligned, two spaces apart.
func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for j, c := range r {
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for j, c := range r {
			pad := strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c))
			switch j {
			case 0:
				line.WriteString(c + pad)
			default:
				line.WriteString("  " + pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// oneLine keeps a name that came from outside (a configuration path, a
// capture source) from breaking the layout.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// WritePrometheus writes s in Prometheus' text exposition format 0.0.4.
func WritePrometheus(w io.Writer, s Snapshot) error {
	var b strings.Builder
	family := func(name, typ, help string) {
		b.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
		b.WriteString("# TYPE " + name + " " + typ + "\n")
	}
	sample := func(name, labels, value string) {
		b.WriteString(name)
		if labels != "" {
			b.WriteString("{" + labels + "}")
		}
		b.WriteString(" " + value + "\n")
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	i := func(n int) string { return strconv.Itoa(n) }

	family("sesame_build_info", "gauge", "The version of sesamed, as a label; the value is always 1.")
	sample("sesame_build_info", label("version", s.Version), "1")
	family("sesame_start_time_seconds", "gauge", "When sesamed started, in seconds since the Unix epoch.")
	start := "0"
	if !s.Started.IsZero() {
		start = strconv.FormatFloat(float64(s.Started.UnixMilli())/1e3, 'f', -1, 64)
	}
	sample("sesame_start_time_seconds", "", start)

	family("sesame_hits_total", "counter", "Packets the matcher saw: hits on knock ports, and probes the scan guard watches.")
	sample("sesame_hits_total", "", u(s.Hits))
	family("sesame_attempts_in_progress", "gauge", "Knock attempts under way.")
	sample("sesame_attempts_in_progress", "", i(s.AttemptsInProgress))
	family("sesame_doors_opened_total", "counter", "Knocks that opened a door (OPEN SESAME).")
	sample("sesame_doors_opened_total", "", u(s.DoorsOpened))
	family("sesame_doors_open", "gauge", "Doors open now.")
	sample("sesame_doors_open", "", i(s.DoorsOpen))
	family("sesame_failures_total", "counter", "Knock attempts that ended without opening a door, by reason.")
	for _, name := range s.failureNames() {
		sample("sesame_failures_total", label("reason", name), u(s.Failures[name]))
	}
	family("sesame_pending_stop_commands", "gauge", "Stop commands owed for doors opened by commands.")
	sample("sesame_pending_stop_commands", "", i(s.PendingStops))
	family("sesame_reloads_total", "counter", "Configuration reloads that took effect.")
	sample("sesame_reloads_total", "", u(s.Reloads))
	family("sesame_reload_failures_total", "counter", "Configuration reloads that were refused.")
	sample("sesame_reload_failures_total", "", u(s.ReloadFailures))

	// Two sources with one name would make duplicate series, which
	// Prometheus rejects: their numbers are added up.
	var names []string
	sums := map[string]*Capture{}
	for _, c := range s.Captures {
		if sum, ok := sums[c.Name]; ok {
			sum.Packets += c.Packets
			sum.Drops += c.Drops
			sum.Undecodable += c.Undecodable
			continue
		}
		names = append(names, c.Name)
		sums[c.Name] = &Capture{Name: c.Name, Packets: c.Packets, Drops: c.Drops, Undecodable: c.Undecodable}
	}
	for _, m := range []struct {
		name, help string
		value      func(*Capture) uint64
	}{
		{"sesame_capture_packets_total", "Packets a capture source read.", func(c *Capture) uint64 { return c.Packets }},
		{"sesame_capture_drops_total", "Packets lost before a capture source could read them.", func(c *Capture) uint64 { return c.Drops }},
		{"sesame_capture_undecodable_total", "Packets a capture source read but could not decode.", func(c *Capture) uint64 { return c.Undecodable }},
	} {
		family(m.name, "counter", m.help)
		for _, n := range names {
			sample(m.name, label("source", n), u(m.value(sums[n])))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// label renders name="value", the value escaped as the format asks:
// backslash, double quote and line feed.
func label(name, value string) string {
	var b strings.Builder
	b.WriteString(name + `="`)
	for _, r := range strings.ToValidUTF8(value, "\uFFFD") {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(`"`)
	return b.String()
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(strings.ToValidUTF8(s, "\uFFFD"))
}
