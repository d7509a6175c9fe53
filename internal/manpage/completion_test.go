package manpage

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc []string
		want string
	}{
		{[]string{"Knock with UDP."}, "Knock with UDP"},
		{[]string{"the TCP ports -m opens, e.g. 22,80 (default:", "$KNOCKER_PORTS); not -p"}, "the TCP ports -m opens, e.g. 22,80 (default: $KNOCKER_PORTS)"},
		{[]string{"Knock as profile NAME says. \"sesame NAME\" does it too."}, "Knock as profile NAME says"},
		{[]string{"a door without a file: the knock, in knockd's", "syntax (7000,8000:udp,9000; a port is TCP unless"}, "a door without a file: the knock, in knockd's syntax..."},
		{[]string{strings.Repeat("word ", 30)}, strings.TrimSpace(strings.Repeat("word ", 13)) + "..."},
		{[]string{strings.Repeat("x", 100)}, strings.Repeat("x", 69) + "..."},
	}
	for _, tt := range tests {
		if got := (Option{Desc: tt.desc}).summary(); got != tt.want {
			t.Errorf("summary of %q = %q, want %q", tt.desc, got, tt.want)
		}
	}
}

func sampleCompletion(t *testing.T) *Completion {
	t.Helper()
	usage, examples, _ := strings.Cut(daemonUsage, "Examples:")
	u, err := ParseUsage(usage + "More options:\n  -i, --interface IF  where; it's [here]\n      --format FMT    text or json\n      --dir DIR       a directory\n\nExamples:" + examples)
	if err != nil {
		t.Fatal(err)
	}
	return &Completion{
		Prog:       "prog",
		Options:    u.Options(),
		Words:      map[string][]string{"format": {"text", "json", "bad word"}},
		Repeatable: map[string]bool{"interface": true},
	}
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	c := sampleCompletion(t)
	for _, tt := range []struct {
		shell string
		got   string
		want  []string
	}{
		{"bash", string(Bash(c)), []string{
			"_prog()\n",
			"        -c | --config | --control-socket)\n            _filedir\n",
			"        --door)\n            return\n",
			"        -C | --check)\n            if [[ $cur != -* ]]; then\n                _filedir\n",
			"        -i | --interface)\n            COMPREPLY=($(compgen -W 'all $(command ls /sys/class/net 2>/dev/null)' -- \"$cur\"))\n",
			"compgen -W 'text json' -- \"$cur\"",
			"        --dir)\n            _filedir -d\n",
			"    complete -F _prog prog\n",
		}},
		{"zsh", string(Zsh(c)), []string{
			"#compdef prog\n",
			`'(-c --config)'{-c+,--config=}'[the file (default: none)]:file:_files'`,
			`--door='[a door]:list: '`,
			`'(-C --check)'{-C-,--check=-}'[check FILE]::file:_files'`,
			`'*'{-i+,--interface=}'[where]:if:_prog_interfaces'`,
			`--format='[text or json]:fmt:(text json)'`,
			`--dir='[a directory]:dir:_files -/'`,
			"  && return 0\n",
		}},
		{"fish", string(Fish(c)), []string{
			"complete -c prog -f\n",
			"complete -c prog -s c -l config -r -F -d 'the file (default: none)'\n",
			"complete -c prog -s C -l check -F -d 'check FILE'\n",
			"complete -c prog -s i -l interface -x -a 'all (command ls /sys/class/net 2>/dev/null)' -d 'where'\n",
			"complete -c prog -l format -x -a 'text json' -d 'text or json'\n",
			"complete -c prog -s h -l help -d 'show this help'\n",
		}},
	} {
		for _, w := range tt.want {
			if !strings.Contains(tt.got, w) {
				t.Errorf("%s script lacks %q:\n%s", tt.shell, w, tt.got)
			}
		}
	}
}

func TestCompletionQuoting(t *testing.T) {
	t.Parallel()
	c := &Completion{Prog: "p", Options: []Option{{Long: "x", Desc: []string{`it's a [b] \ c`}}}}
	if got, want := string(Zsh(c)), `--x'[it'\''s a \[b\] \\ c]'`; !strings.Contains(got, want) {
		t.Errorf("zsh script lacks %s:\n%s", want, got)
	}
	if got, want := string(Fish(c)), `-d 'it\'s a [b] \\ c'`; !strings.Contains(got, want) {
		t.Errorf("fish script lacks %s:\n%s", want, got)
	}
}
