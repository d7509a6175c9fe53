package netlab

import (
	"fmt"
	"io"
	"testing"
)

// Echo serves a TCP echo on port in the namespace (dual stack), with no
// firewall of its own: a door under test (sesame's own guard) is what
// keeps it shut. It stops when the test ends.
func (ns *Netns) Echo(t testing.TB, port int) {
	t.Helper()
	ln, err := ns.Listen("tcp", fmt.Sprintf("[::]:%d", port))
	if err != nil {
		t.Fatalf("netlab: listen on port %d in %s: %v", port, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
}
