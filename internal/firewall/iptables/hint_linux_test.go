package iptables

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func TestHints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hint string
		want string // substring; "" means no hint
	}{
		{"missing binary", hint(&exec.Error{Name: "iptables", Err: exec.ErrNotFound}), "install iptables"},
		{"netlink EPERM", ipsetHint(fmt.Errorf("x: %w", unix.EPERM)), "CAP_NET_ADMIN"},
		{"no ipset subsystem", ipsetHint(unix.EINVAL), "modprobe ip_set"},
		{"no hash:ip,port", ipsetHint(nl.IPSetError(nl.IPSET_ERR_FIND_TYPE)), "ip_set_hash_ipport"},
		{"iptables not root", iptablesHint(4, "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)"), "CAP_NET_ADMIN"},
		{"legacy without xt_set", iptablesHint(2, "iptables v1.8.9 (legacy): Couldn't load match `set':No such file or directory"), "xt_set"},
		{"nft without xt_set", iptablesHint(1, "Warning: Extension set revision 0 not supported, missing kernel module?"), "xt_set"},
		{"nft without conntrack", iptablesHint(1, "Warning: Extension conntrack revision 0 not supported, missing kernel module?"), "modprobe"},
		{"unrelated", hint(errors.New("boom")), ""},
	}
	for _, tt := range tests {
		if tt.want == "" && tt.hint != "" || !strings.Contains(tt.hint, tt.want) {
			t.Errorf("%s: hint %q, want one containing %q", tt.name, tt.hint, tt.want)
		}
	}
}
