// Package manpage turns a program's --help text, plus prose kept beside it,
// into its man page and its shell completions, so that the options are
// written down once: in the hand-written usage text the program prints.
//
// The usage text is read as a person reads it (ParseUsage): a "Usage:"
// block gives the SYNOPSIS; an indented block of lines starting with an
// option ("-c, --config FILE   what it does", continued by deeper-indented
// lines) is an option group; an "Examples:" block gives EXAMPLES; every
// other paragraph is prose. The layout is the contract: text that looks
// like neither is an error naming the line, rather than a man page that
// quietly lost an option.
//
// The prose a man page has beyond --help (configuration, signals, files)
// is written in a small markup (ParsePage, described there) whose @usage
// lines say where each part of the usage text goes. Render writes roff for
// man(7); Bash, Zsh and Fish write completion scripts from the same
// options.
//
// The generated files are committed, and the tests of each program
// regenerate them and fail when they are stale (see package mantest).
package manpage
