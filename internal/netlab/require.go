package netlab

import (
	"fmt"
	"os"
	"runtime"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where privileged tests
// must run and a missing prerequisite is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test, or fails it under CI=true. Every prerequisite
// check of a lab test goes through it, so CI can never pass by skipping.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI=true, so not skipping: %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (or under CI=true fails) a test that cannot build a lab:
// not Linux, or not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		SkipOrFail(t, "netlab needs Linux network namespaces, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		SkipOrFail(t, "netlab needs root to create network namespaces (euid %d)", os.Geteuid())
	}
}
