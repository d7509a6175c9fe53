// Package e2e holds sesame's end-to-end tests (Linux, root): sesamed and
// sesame, built from this checkout, run in a netlab network-namespace lab,
// side by side with Debian's knockd and knock, and every door is proved with
// a real TCP connection. See main_test.go for how to run them.
package e2e
