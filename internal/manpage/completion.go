package manpage

import (
	"fmt"
	"sort"
	"strings"
)

// Completion describes a program's command line for completion scripts.
type Completion struct {
	Prog    string
	Options []Option
	// Words are the fixed values of options, by long name (--log-format:
	// text, json). A word ending in ":" is a prefix (nflog:GROUP): no space
	// is added after it.
	Words map[string][]string
	// Repeatable names the options that may be given more than once.
	Repeatable map[string]bool
	// Hosts: the arguments are host names.
	Hosts bool
}

// valueKind is what an option's value completes to.
type valueKind int

const (
	noValue    valueKind = iota // a switch
	freeValue                   // a value with nothing to offer
	fileValue                   // FILE, PATH
	dirValue                    // DIR
	ifaceValue                  // IF: interface names and "all"
	wordValue                   // Completion.Words
)

func (c *Completion) kind(o Option) valueKind {
	switch {
	case o.Arg == "":
		return noValue
	case o.Long != "" && len(c.Words[o.Long]) > 0:
		return wordValue
	}
	switch o.Metavar() {
	case "FILE", "PATH":
		return fileValue
	case "DIR":
		return dirValue
	case "IF":
		return ifaceValue
	}
	return freeValue
}

// names are the option's spellings: "-c", "--config".
func (o Option) names() []string {
	var n []string
	if o.Short != "" {
		n = append(n, "-"+o.Short)
	}
	if o.Long != "" {
		n = append(n, "--"+o.Long)
	}
	return n
}

// summary is the start of an option's description, for completion
// menus: its first sentence or clause, at most 72 characters, without a
// parenthesis it would leave open.
func (o Option) summary() string {
	s := strings.Join(o.Desc, " ")
	if i := strings.Index(s, "; "); i >= 0 {
		s = s[:i]
	}
	for i := 0; i+2 < len(s); i++ {
		if c := s[i+2]; s[i] == '.' && s[i+1] == ' ' && !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			s = s[:i]
			break
		}
	}
	s = strings.TrimSuffix(s, ".")
	long := len(s) > 72
	if long {
		cut := strings.LastIndexByte(s[:69], ' ')
		if cut < 20 {
			cut = 69
		}
		s = s[:cut]
	}
	if strings.Count(s, "(") > strings.Count(s, ")") {
		s, long = s[:strings.LastIndexByte(s, '(')], true
	}
	s = strings.TrimRight(s, " ,;:")
	if long {
		s += "..."
	}
	return s
}

const ifaceList = "all $(command ls /sys/class/net 2>/dev/null)"

// Bash writes a completion script for bash-completion.
func Bash(c *Completion) []byte {
	var b strings.Builder
	fn := "_" + shellName(c.Prog)
	fmt.Fprintf(&b, "# bash completion for %s -*- shell-script -*-\n", c.Prog)
	fmt.Fprintf(&b, "# Generated from \"%s --help\" by internal/manpage (make man); do not edit.\n", c.Prog)
	// bash-completion's idioms: compgen -W expands its word list itself,
	// and _init_completion sets words and cword for whoever needs them.
	b.WriteString("# shellcheck shell=bash disable=SC2016,SC2034,SC2207\n\n")
	fmt.Fprintf(&b, "%s()\n{\n", fn)
	b.WriteString("    local cur prev words cword split\n")
	b.WriteString("    _init_completion -s -n : || return\n\n")
	b.WriteString("    case $prev in\n")
	// One arm per way of completing a value, in the order of the options.
	var arms []string
	names := map[string][]string{}
	var all []string
	for _, o := range c.Options {
		all = append(all, o.names()...)
		k := c.kind(o)
		if k == noValue {
			continue
		}
		var arm strings.Builder
		if o.Optional() {
			// The value may be left out: an option in its place is
			// completed as one.
			arm.WriteString("            if [[ $cur != -* ]]; then\n")
			writeBashValue(&arm, c, o, k, "                ")
			arm.WriteString("            fi\n")
		} else {
			writeBashValue(&arm, c, o, k, "            ")
		}
		body := arm.String()
		if _, ok := names[body]; !ok {
			arms = append(arms, body)
		}
		names[body] = append(names[body], o.names()...)
	}
	for _, body := range arms {
		fmt.Fprintf(&b, "        %s)\n%s            ;;\n", strings.Join(names[body], " | "), body)
	}
	b.WriteString("    esac\n")
	b.WriteString("    $split && return\n\n")
	sort.Strings(all)
	if c.Hosts {
		b.WriteString("    if [[ $cur == -* ]]; then\n")
		fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", strings.Join(all, " "))
		b.WriteString("        return\n")
		b.WriteString("    fi\n")
		b.WriteString("    _known_hosts_real -- \"$cur\"\n")
	} else {
		fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", strings.Join(all, " "))
	}
	fmt.Fprintf(&b, "} &&\n    complete -F %s %s\n\n# ex: filetype=sh\n", fn, c.Prog)
	return []byte(b.String())
}

func writeBashValue(b *strings.Builder, c *Completion, o Option, k valueKind, in string) {
	switch k {
	case fileValue:
		b.WriteString(in + "_filedir\n")
	case dirValue:
		b.WriteString(in + "_filedir -d\n")
	case ifaceValue:
		fmt.Fprintf(b, "%sCOMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", in, ifaceList)
	case wordValue:
		words := c.Words[o.Long]
		fmt.Fprintf(b, "%sCOMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", in, strings.Join(shellWords(words), " "))
		if hasPrefixWord(words) {
			fmt.Fprintf(b, "%s[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *: ]] && compopt -o nospace 2>/dev/null\n", in)
			fmt.Fprintf(b, "%s__ltrim_colon_completions \"$cur\"\n", in)
		}
	}
	b.WriteString(in + "return\n")
}

func hasPrefixWord(words []string) bool {
	for _, w := range words {
		if strings.HasSuffix(w, ":") {
			return true
		}
	}
	return false
}

// shellWords keeps the words a completion offers to safe characters.
func shellWords(words []string) []string {
	var out []string
	for _, w := range words {
		if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-+,=/") == "" {
			out = append(out, w)
		}
	}
	return out
}

func shellName(prog string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, prog)
}

// Zsh writes a completion function for zsh's compsys (a _PROG file in
// $fpath).
func Zsh(c *Completion) []byte {
	var b strings.Builder
	fn := "_" + shellName(c.Prog)
	fmt.Fprintf(&b, "#compdef %s\n", c.Prog)
	fmt.Fprintf(&b, "# zsh completion for %s.\n", c.Prog)
	fmt.Fprintf(&b, "# Generated from \"%s --help\" by internal/manpage (make man); do not edit.\n\n", c.Prog)
	needIfaces := false
	for _, o := range c.Options {
		if c.kind(o) == ifaceValue {
			needIfaces = true
		}
	}
	if needIfaces {
		fmt.Fprintf(&b, "(( $+functions[%s_interfaces] )) ||\n%s_interfaces() {\n", fn, fn)
		b.WriteString("  local -a ifaces\n")
		b.WriteString("  ifaces=(all ${(f)\"$(command ls /sys/class/net 2>/dev/null)\"})\n")
		b.WriteString("  _describe -t interfaces interface ifaces\n}\n\n")
	}
	b.WriteString("_arguments -s -S \\\n")
	for _, o := range c.Options {
		k := c.kind(o)
		names := o.names()
		var spec string
		switch {
		case o.Short != "" && o.Long != "":
			spec = "'(" + strings.Join(names, " ") + ")'"
			if c.Repeatable[o.Long] {
				spec = "'*'"
			}
			short, long := names[0], names[1]
			switch {
			case k == noValue:
			case o.Optional():
				short, long = short+"-", long+"=-"
			default:
				short, long = short+"+", long+"="
			}
			spec += "{" + short + "," + long + "}"
		default:
			n := names[0]
			switch {
			case k == noValue:
			case o.Optional():
				n += "=-"
				if o.Long == "" {
					n = names[0] + "-"
				}
			default:
				n += "="
				if o.Long == "" {
					n = names[0] + "+"
				}
			}
			if c.Repeatable[o.Long] {
				n = "*" + n
			}
			spec = n
		}
		spec += "'[" + zshQuote(zshBracket(o.summary())) + "]"
		if k != noValue {
			colon := ":"
			if o.Optional() {
				colon = "::"
			}
			msg := zshQuote(strings.ReplaceAll(strings.ToLower(o.Metavar()), ":", " "))
			var action string
			switch k {
			case fileValue:
				action = "_files"
			case dirValue:
				action = "_files -/"
			case ifaceValue:
				action = fn + "_interfaces"
			case wordValue:
				action = "(" + strings.Join(shellWords(c.Words[o.Long]), " ") + ")"
			default:
				action = " "
			}
			spec += colon + msg + ":" + action
		}
		spec += "'"
		b.WriteString("  " + spec + " \\\n")
	}
	if c.Hosts {
		b.WriteString("  '*:host:_hosts'\n")
	} else {
		b.WriteString("  && return 0\n")
	}
	return []byte(b.String())
}

// zshQuote makes s safe inside single quotes.
func zshQuote(s string) string { return strings.ReplaceAll(s, "'", `'\''`) }

// zshBracket makes s safe inside an _arguments description, [...].
func zshBracket(s string) string {
	return strings.NewReplacer(`\`, `\\`, `]`, `\]`, `[`, `\[`).Replace(s)
}

// Fish writes a fish completion script.
func Fish(c *Completion) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# fish completion for %s.\n", c.Prog)
	fmt.Fprintf(&b, "# Generated from \"%s --help\" by internal/manpage (make man); do not edit.\n\n", c.Prog)
	fmt.Fprintf(&b, "complete -c %s -f\n", c.Prog)
	if c.Hosts {
		fmt.Fprintf(&b, "complete -c %s -n 'not string match -q -- \"-*\" (commandline -ct)' -a '(__fish_print_hostnames)'\n", c.Prog)
	}
	for _, o := range c.Options {
		line := "complete -c " + c.Prog
		if o.Short != "" {
			line += " -s " + o.Short
		}
		if o.Long != "" {
			line += " -l " + o.Long
		}
		k := c.kind(o)
		switch {
		case k == noValue, o.Optional() && k != fileValue && k != dirValue:
		case k == fileValue || k == dirValue:
			if !o.Optional() {
				line += " -r"
			}
			line += " -F"
		default:
			line += " -x" // a value, not a file
		}
		switch k {
		case ifaceValue:
			line += " -a " + fishQuote("all (command ls /sys/class/net 2>/dev/null)")
		case wordValue:
			line += " -a " + fishQuote(strings.Join(shellWords(c.Words[o.Long]), " "))
		}
		line += " -d " + fishQuote(o.summary())
		b.WriteString(line + "\n")
	}
	return []byte(b.String())
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
