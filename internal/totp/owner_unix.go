//go:build unix

package totp

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of old, so that an administrator
// running enrolment as root does not take the file from the daemon's user.
func keepOwner(f *os.File, old fs.FileInfo) error {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid() {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}
