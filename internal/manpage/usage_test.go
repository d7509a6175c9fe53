package manpage

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Two layouts, as the two programs write them: sesamed's (options at 2,
// long options alone at 6, a table of examples) and sesame's (options at
// 4, groups with headings, prose examples with code).
const daemonUsage = `Usage: prog [options]
       prog --door LIST [options]

prog watches for knocks. See
knockd(1).

Where it comes from:
  1. --door LIST
  2. -c FILE, or
     the environment

Options:
  -c, --config FILE       the file
                          (default: none)
      --door LIST         a door
      --control-socket PATH
                          the socket
  -C, --check [FILE]      check FILE
  -h, --help              show this help

A note after the options, about -c.

Examples:
  prog --check                  show what runs
  prog --door 7000,8000 --open tcp:22
                                open SSH
`

const clientUsage = `Usage:
    client [options] HOST PORT...

FLAGS are raw, and need root:
    sudo setcap cap_net_raw+ep client
They are not on Windows.

Options:
    -u, --udp            Knock with UDP.
    -d, --delay MS       Wait MS milliseconds.

Sources, for knocks that cannot be replayed. Give one of
them instead of the ports.
        --one-time FILE  Knock a line of FILE.
        --totp-ports LO-HI[:PROTO]
                         The TOTP port range.

Profiles:
        --profile NAME   Knock as NAME says.
    -d and -u override the profile.

Examples:
    Knock, then log in:
        $ client host 7000 && ssh host

    A profile:
        [work]
            Host = host
    then:
        $ client work

Exit status: 0 or 1.
`

func TestParseUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *Usage
	}{
		{
			name: "daemon layout",
			in:   daemonUsage,
			want: &Usage{
				Synopsis: []string{"prog [options]", "prog --door LIST [options]"},
				Intro: []Block{
					{Kind: Para, Lines: []string{"prog watches for knocks. See", "knockd(1)."}},
					{Kind: Para, Lines: []string{"Where it comes from:"}},
					{Kind: List, Items: []Item{
						{Mark: "1.", Lines: []string{"--door LIST"}},
						{Mark: "2.", Lines: []string{"-c FILE, or", "the environment"}},
					}},
				},
				Groups: []Group{{
					Heading: []string{"Options:"},
					Entries: []Entry{
						{Option: &Option{Short: "c", Long: "config", Arg: "FILE", Desc: []string{"the file", "(default: none)"}, Line: 13}},
						{Option: &Option{Long: "door", Arg: "LIST", Desc: []string{"a door"}, Line: 15}},
						{Option: &Option{Long: "control-socket", Arg: "PATH", Desc: []string{"the socket"}, Line: 16}},
						{Option: &Option{Short: "C", Long: "check", Arg: "[FILE]", Desc: []string{"check FILE"}, Line: 18}},
						{Option: &Option{Short: "h", Long: "help", Desc: []string{"show this help"}, Line: 19}},
					},
					After: []Block{{Kind: Para, Lines: []string{"A note after the options, about -c."}}},
				}},
				Examples: &Examples{Items: []Example{
					{Command: "prog --check", Desc: []string{"show what runs"}},
					{Command: "prog --door 7000,8000 --open tcp:22", Desc: []string{"open SSH"}},
				}},
			},
		},
		{
			name: "client layout",
			in:   clientUsage,
			want: &Usage{
				Synopsis: []string{"client [options] HOST PORT..."},
				Intro: []Block{
					{Kind: Para, Lines: []string{"FLAGS are raw, and need root:"}},
					{Kind: Verbatim, Lines: []string{"sudo setcap cap_net_raw+ep client"}},
					{Kind: Para, Lines: []string{"They are not on Windows."}},
				},
				Groups: []Group{
					{
						Heading: []string{"Options:"},
						Entries: []Entry{
							{Option: &Option{Short: "u", Long: "udp", Desc: []string{"Knock with UDP."}, Line: 9}},
							{Option: &Option{Short: "d", Long: "delay", Arg: "MS", Desc: []string{"Wait MS milliseconds."}, Line: 10}},
						},
					},
					{
						Heading: []string{"Sources, for knocks that cannot be replayed. Give one of", "them instead of the ports."},
						Entries: []Entry{
							{Option: &Option{Long: "one-time", Arg: "FILE", Desc: []string{"Knock a line of FILE."}, Line: 14}},
							{Option: &Option{Long: "totp-ports", Arg: "LO-HI[:PROTO]", Desc: []string{"The TOTP port range."}, Line: 15}},
						},
					},
					{
						Heading: []string{"Profiles:"},
						Entries: []Entry{
							{Option: &Option{Long: "profile", Arg: "NAME", Desc: []string{"Knock as NAME says."}, Line: 19}},
							{Note: []string{"-d and -u override the profile."}},
						},
					},
				},
				Examples: &Examples{Blocks: []Block{
					{Kind: Para, Lines: []string{"Knock, then log in:"}},
					{Kind: Verbatim, Lines: []string{"$ client host 7000 && ssh host"}},
					{Kind: Para, Lines: []string{"A profile:"}},
					{Kind: Verbatim, Lines: []string{"[work]", "    Host = host"}},
					{Kind: Para, Lines: []string{"then:"}},
					{Kind: Verbatim, Lines: []string{"$ client work"}},
				}},
				Epilogue: []Block{{Kind: Para, Lines: []string{"Exit status: 0 or 1."}}},
			},
		},
		{
			name: "short option alone, description below",
			in:   "Options:\n  -x\n      the x\n  -y N  the y\n",
			want: &Usage{Groups: []Group{{
				Heading: []string{"Options:"},
				Entries: []Entry{
					{Option: &Option{Short: "x", Desc: []string{"the x"}, Line: 2}},
					{Option: &Option{Short: "y", Arg: "N", Desc: []string{"the y"}, Line: 4}},
				},
			}}},
		},
		{
			name: "blank lines inside a group and trailing spaces",
			in:   "Options:  \n  -a  the a\n\n  -b  the b  \n",
			want: &Usage{Groups: []Group{{
				Heading: []string{"Options:"},
				Entries: []Entry{
					{Option: &Option{Short: "a", Desc: []string{"the a"}, Line: 2}},
					{Option: &Option{Short: "b", Desc: []string{"the b"}, Line: 4}},
				},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseUsage(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseUsage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"tab", "Options:\n\t-a  the a\n", "line 2: a tab"},
		{"indented first", "  -a  the a\n", "line 1: indented text before any paragraph"},
		{"no options", "Usage: x\n\nJust prose.\n", "no options found"},
		{"column 0 among options", "Options:\n  -a  the a\nB\n", "line 3: text at column 0 among options"},
		{"option without description", "Options:\n  -a\n  -b  the b\n", "line 2: option -a has no description"},
		{"second usage", "Usage: a\n\nUsage: b\n\nOptions:\n  -a  x\n", "line 3: a second Usage: block"},
		{"options after examples", "Examples:\n  a  b\n\nOptions:\n  -a  x\n", "line 4: options after the Examples: block"},
		{"empty examples", "Options:\n  -a  x\n\nExamples:\n", "line 4: an Examples: block without examples"},
		{"usage continued at column 0", "Usage: a\nb\n\nOptions:\n  -a  x\n", "line 2: text at column 0 in the Usage: block"},
		{"continuation before any option", "Options:\n      more\n  -a  x\n", "line 2: indented text that continues no option"},
		{"list line out of place", "Intro:\n  1. one\n  two\n\nOptions:\n  -a  x\n", "line 3: a list line"},
		{"example continues nothing", "Options:\n  -a  x\n\nExamples:\n      deeper\n  a  b\n", "line 5: indented text that continues no example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseUsage(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseUsage(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestOptionNames(t *testing.T) {
	t.Parallel()
	o := Option{Short: "C", Long: "check", Arg: "[FILE]"}
	if !o.Optional() || o.Metavar() != "FILE" || o.Name() != "--check" {
		t.Errorf("%+v: Optional %v, Metavar %q, Name %q", o, o.Optional(), o.Metavar(), o.Name())
	}
	o = Option{Short: "c", Arg: "FILE"}
	if o.Optional() || o.Metavar() != "FILE" || o.Name() != "-c" {
		t.Errorf("%+v: Optional %v, Metavar %q, Name %q", o, o.Optional(), o.Metavar(), o.Name())
	}
}
