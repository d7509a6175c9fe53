//go:build linux

// Run as root from the module root:
//
//	go test ./e2e/ -v                      # everything
//	go test ./e2e/ -v -run '/knockd/'      # only Debian's knockd (harness check)
//	go test ./e2e/ -v -run '/sesamed/'     # only sesamed
//
// E2E_LOGDIR=DIR keeps every daemon's log there, one file per test, with a
// tcpdump capture of the server's interface beside it.
// Without root the tests skip, except under CI=true, where they fail; a
// program that cannot be built or found is handled the same way.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// bins are the programs under test and the tools they are compared with:
// name → path, or the reason it is missing.
var (
	binPath = map[string]string{}
	binErr  = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sesame-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	// The client remembers TOTP steps in its state directory: keep it in
	// the run's own directory, not in root's cache.
	os.Setenv("SESAME_STATE_DIR", filepath.Join(dir, "client-state"))
	for _, name := range []string{"sesamed", "sesame"} {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
		cmd.Dir = ".." // the module root
		// As shipped: no cgo (a binary linked with cgo cannot drop
		// capabilities on all threads).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			binErr[name] = fmt.Sprintf("go build ./cmd/%s failed: %v: %s", name, err, strings.TrimSpace(string(b)))
			continue
		}
		binPath[name] = out
	}
	for _, name := range []string{"knockd", "knock", "hping3", "nft", "ip", "tcpdump", "socat"} {
		p, err := exec.LookPath(name)
		if err != nil {
			binErr[name] = fmt.Sprintf("%s is not installed (apt-get install knockd hping3 nftables iproute2 socat tcpdump): %v", name, err)
			continue
		}
		binPath[name] = p
	}
	code := m.Run()
	os.RemoveAll(dir)
	printFindings()
	os.Exit(code)
}

// bin returns the path of a program, or skips the test (fails it under
// CI=true) when it is missing.
func bin(t testing.TB, name string) string {
	t.Helper()
	if p, ok := binPath[name]; ok {
		return p
	}
	skipOrFail(t, "%s", binErr[name])
	return ""
}

// Findings are the places where a daemon under comparison (knockd) falls
// short of sesame's spec; they are logged, not failed, and summed up at the end.
var (
	findingsMu sync.Mutex
	findings   []string
)

func addFinding(s string) {
	findingsMu.Lock()
	defer findingsMu.Unlock()
	findings = append(findings, s)
}

func printFindings() {
	findingsMu.Lock()
	defer findingsMu.Unlock()
	if len(findings) == 0 {
		return
	}
	sort.Strings(findings)
	fmt.Println("e2e findings (a compared daemon does not meet the spec; not failures):")
	for _, f := range findings {
		fmt.Println("  -", f)
	}
}
