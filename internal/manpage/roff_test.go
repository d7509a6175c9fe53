package manpage

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestInline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		markup   bool
		want     string
	}{
		{"options bold, never hyphenated", "give -c or --config-file.", false, `give \fB\%\-c\fR or \fB\%\-\-config\-file\fR.`},
		{"options after punctuation", "(--check), \"-v\"", false, `(\fB\%\-\-check\fR), "\fB\%\-v\fR"`},
		{"no option inside a word", "port-knocking 40000-49999 a-b", false, `port-knocking 40000-49999 a-b`},
		{"option followed by a value", "--config=FILE", false, `\fB\%\-\-config\fR=FILE`},
		{"double dash alone", `before "--"`, false, `before "\-\-"`},
		{"man page reference", "see knockd(1) and jail.conf(5).", false, `see \fBknockd\fR(1) and \fBjail.conf\fR(5).`},
		{"backslash and escapes", `knock\n ~/x a^b`, false, `knock\en \(ti/x a\(hab`},
		{"non-ASCII", "a — b 1 − 2⁻³² 😀", false, `a \[u2014] b 1 \[u2212] 2\[u207B]\[u00B3]\[u00B2] \[u1F600]`},
		{"control characters dropped", "a\x01b\x7f", false, `ab`},
		{"invalid UTF-8", "a\xffb", false, `a\[uFFFD]b`},
		{"backquote", "`x`", false, `\(gax\(ga`},
		{"markup: code", "run `nft list ruleset -a` now", true, `run \fBnft list ruleset \-a\fR now`},
		{"markup: bold and italic", "**prog** reads *FILE*", true, `\fBprog\fR reads \fIFILE\fR`},
		{"markup: unclosed", "a * b ** c ` d", true, `a * b ** c \(ga d`},
		{"markup: escaped", `\*not\* \` + "`" + `x\\y`, true, `*not* \(gax\ey`},
		{"markup: star inside a word is literal", "a*b", true, `a*b`},
		{"no markup: stars stay", "**x**", false, `**x**`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := inline(tt.in, tt.markup); got != tt.want {
				t.Errorf("inline(%q, %v)\n got %s\nwant %s", tt.in, tt.markup, got, tt.want)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"[options] HOST [HOST...]", `[\fIoptions\fR] \fIHOST\fR [\fIHOST\fR...]`},
		{"--door LIST -m N", `\fB\-\-door\fR \fILIST\fR \fB\-m\fR \fIN\fR`},
		{"LO-HI[:PROTO]", `\fILO-HI\fR[:\fIPROTO\fR]`},
		{"SEQUENCE-SOURCE", `\fISEQUENCE-SOURCE\fR`},
	}
	for _, tt := range tests {
		if got := placeholders(tt.in); got != tt.want {
			t.Errorf("placeholders(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/manpage -update writes it)", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
		t.Errorf("%s is stale (-want +got; go test ./internal/manpage -update rewrites it):\n%s", path, diff)
	}
}

func renderSample(t *testing.T, usage string) []byte {
	t.Helper()
	u, err := ParseUsage(usage)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePage(pageSource + "\n# EXAMPLES\n@usage examples\n\n# NOTES\n@usage epilogue\n")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(p, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRoff(out); err != nil {
		t.Error(err)
	}
	return out
}

func TestRender(t *testing.T) {
	t.Parallel()
	for name, usage := range map[string]string{"daemon.8.golden": daemonUsage, "client.8.golden": clientUsage} {
		out := renderSample(t, usage)
		golden(t, name, out)
		lintGroff(t, out)
	}
}

// lintGroff runs groff, when installed, on a page: it must not warn.
func lintGroff(t *testing.T, page []byte) {
	t.Helper()
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("groff is not installed: page not linted")
		return
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = bytes.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, out)
	}
}

func TestRenderPlacesEveryPart(t *testing.T) {
	t.Parallel()
	u, err := ParseUsage(clientUsage)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range usageParts {
		src := strings.Replace(pageSource, "@usage "+part+"\n", "", 1) + "\n# MORE\n"
		for _, other := range usageParts {
			if other != part && !strings.Contains(src, "@usage "+other+"\n") {
				src += "@usage " + other + "\n"
			}
		}
		p, err := ParsePage(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Render(p, u)
		if want := fmt.Sprintf("add \"@usage %s\"", part); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without @usage %s: Render = %v, want an error containing %q", part, err, want)
		}
	}
	p, err := ParsePage(pageSource + "@usage options\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(p, u); err == nil || !strings.Contains(err.Error(), "placed twice") {
		t.Errorf("@usage options twice: Render = %v, want an error", err)
	}
}

// roffRequests are the requests Render writes.
var roffRequests = map[string]bool{
	`.\"`: true, ".TH": true, ".SH": true, ".SS": true, ".PP": true, ".TP": true, ".IP": true,
	".RS": true, ".RE": true, ".nf": true, ".fi": true, ".SY": true, ".YS": true, ".ad": true,
}

// checkRoff checks what makes a page safe whatever its text: every line
// is printable ASCII, every control line one of Render's requests, and
// every escape one Render writes (so text never became roff).
func checkRoff(out []byte) error {
	for i, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		for j := 0; j < len(l); j++ {
			if c := l[j]; c < ' ' || c >= 0x7f {
				return fmt.Errorf("line %d: byte %#x in %q", i+1, c, l)
			}
		}
		if strings.HasPrefix(l, "'") {
			return fmt.Errorf("line %d starts with ': %q", i+1, l)
		}
		if strings.HasPrefix(l, ".") {
			req, _, _ := strings.Cut(l, " ")
			if !roffRequests[req] {
				return fmt.Errorf("line %d: request %q: %q", i+1, req, l)
			}
			if req == `.\"` {
				continue
			}
		}
		for j := 0; j < len(l); j++ {
			if l[j] != '\\' {
				continue
			}
			rest := l[j+1:]
			n := 0
			switch {
			case rest == "":
				return fmt.Errorf("line %d ends in a backslash: %q", i+1, l)
			case strings.ContainsRune(`e-&%`, rune(rest[0])):
				n = 1
			case rest[0] == 'f' && len(rest) > 1 && strings.ContainsRune("BIR", rune(rest[1])):
				n = 2
			case rest[0] == '(' && len(rest) > 2:
				switch rest[1:3] {
				case "aq", "ga", "ti", "ha", "bu", "dq":
					n = 3
				}
			case strings.HasPrefix(rest, "[u"):
				end := strings.IndexByte(rest, ']')
				if end < 0 {
					return fmt.Errorf("line %d: unclosed \\[u: %q", i+1, l)
				}
				n = end + 1
			}
			if n == 0 {
				return fmt.Errorf("line %d: escape \\%s: %q", i+1, rest[:min(len(rest), 3)], l)
			}
			j += n
		}
	}
	return nil
}
