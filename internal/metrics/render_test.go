package metrics

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestWriteText(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := WriteText(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.txt", b.String())
}

// TestWriteTextBare: a daemon that knows nothing yet (no version, no
// captures) still renders every line.
func TestWriteTextBare(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := WriteText(&b, (&Counters{}).Snapshot(time.Time{}, State{})); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-bare.txt", b.String())
}

// TestWriteTextHostile: names from outside (a path, a source name, a
// reason from a newer daemon) cannot break the layout into more lines.
func TestWriteTextHostile(t *testing.T) {
	t.Parallel()
	s := sample()
	s.Version = "v1\nforged line"
	s.Config = "/etc/knock\x1b[2Jd.conf\xff"
	s.Captures = []Capture{{Name: "eth0\nhits 0", Packets: 1}}
	s.Failures["zz_new\treason"] = 5
	var b strings.Builder
	if err := WriteText(&b, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-hostile.txt", b.String())
}

func TestWritePrometheus(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := WritePrometheus(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "metrics.prom", b.String())
	checkExposition(t, b.String())
}

// TestWritePrometheusEscaping: label values are escaped as the format
// says; sources with one name are added up rather than repeated.
func TestWritePrometheusEscaping(t *testing.T) {
	t.Parallel()
	s := sample()
	s.Version = "v1 \"quoted\" back\\slash\nnewline \xff"
	s.Captures = []Capture{
		{Name: `pcap:/tmp/a "b".pcap`, Packets: 1, Drops: 2, Undecodable: 3},
		{Name: "nflog", Packets: 10},
		{Name: `pcap:/tmp/a "b".pcap`, Packets: 100, Drops: 200, Undecodable: 300},
	}
	var b strings.Builder
	if err := WritePrometheus(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`sesame_build_info{version="v1 \"quoted\" back\\slash\nnewline ` + "\uFFFD" + `"} 1`,
		`sesame_capture_packets_total{source="pcap:/tmp/a \"b\".pcap"} 101`,
		`sesame_capture_drops_total{source="pcap:/tmp/a \"b\".pcap"} 202`,
		`sesame_capture_undecodable_total{source="pcap:/tmp/a \"b\".pcap"} 303`,
		`sesame_capture_packets_total{source="nflog"} 10`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks the line %s\n%s", want, out)
		}
	}
	if n := strings.Count(out, `sesame_capture_packets_total{source="pcap`); n != 1 {
		t.Errorf("the pcap source has %d packets series, want 1", n)
	}
	checkExposition(t, out)
}

// checkExposition checks the shape of every line of a text exposition:
// HELP and TYPE once per family, before its samples; samples of declared
// families only; no series twice.
func checkExposition(t *testing.T, out string) {
	t.Helper()
	var (
		help    = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]*$`)
		typ     = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$`)
		sampleR = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"\})? (-?[0-9]+(?:\.[0-9]+)?)$`)
	)
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("exposition does not end with a line feed")
	}
	helped, typed, series := map[string]bool{}, map[string]string{}, map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case help.MatchString(line):
			name := help.FindStringSubmatch(line)[1]
			if helped[name] {
				t.Errorf("line %d: second HELP for %s", i+1, name)
			}
			helped[name] = true
		case typ.MatchString(line):
			m := typ.FindStringSubmatch(line)
			if _, ok := typed[m[1]]; ok {
				t.Errorf("line %d: second TYPE for %s", i+1, m[1])
			}
			typed[m[1]] = m[2]
		case sampleR.MatchString(line):
			m := sampleR.FindStringSubmatch(line)
			if !helped[m[1]] || typed[m[1]] == "" {
				t.Errorf("line %d: sample of %s before its HELP and TYPE", i+1, m[1])
			}
			if typed[m[1]] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Errorf("line %d: counter %s does not end in _total", i+1, m[1])
			}
			if series[m[1]+m[2]] {
				t.Errorf("line %d: series %s%s twice", i+1, m[1], m[2])
			}
			series[m[1]+m[2]] = true
		default:
			t.Errorf("line %d is not HELP, TYPE or a sample: %q", i+1, line)
		}
	}
}
