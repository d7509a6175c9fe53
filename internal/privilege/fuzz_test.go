package privilege

import (
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// formatStatus writes tc as the kernel would, the Pid line only if TID is
// set.
func formatStatus(tc ThreadCaps) string {
	s := ""
	if tc.TID != 0 {
		s = fmt.Sprintf("Pid:\t%d\n", tc.TID)
	}
	return s + fmt.Sprintf("CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		uint64(tc.Inheritable), uint64(tc.Permitted), uint64(tc.Effective), uint64(tc.Bounding), uint64(tc.Ambient))
}

// FuzzParseStatus: any input parses or fails without panicking, and what
// parses, written back the kernel's way, parses to the same sets.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(statusRoot))
	f.Add([]byte(formatStatus(ThreadCaps{TID: 1, Permitted: SetOf(NetRaw, NetAdmin), Effective: SetOf(NetRaw), Bounding: ^Set(0)})))
	f.Add([]byte("CapInh: 1\nCapPrm: 3000\nCapEff: 0\nCapBnd: F\nCapAmb:\t2000"))
	f.Add([]byte("Pid:\t07\nCapInh:\t\nCapPrm:\t-1\n"))
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tc, err := ParseStatus(in)
		if err != nil {
			return
		}
		out := formatStatus(tc)
		again, err := ParseStatus([]byte(out))
		if err != nil {
			t.Fatalf("ParseStatus(%q) = %v, but its formatting %q fails: %v", in, tc, out, err)
		}
		if diff := cmp.Diff(tc, again); diff != "" {
			t.Errorf("round trip through %q (-first +second):\n%s", out, diff)
		}
	})
}
