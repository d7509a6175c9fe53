//go:build unix

package config

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkTrusted refuses a configuration file that someone other than root
// or this user could have written: sesamed runs as root and runs the
// commands a configuration names, and a default file may sit in a home
// directory ($HOME survives sudo -E).
func checkTrusted(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := st.Uid; uid != 0 && int(uid) != os.Geteuid() {
		return fmt.Errorf("refusing %s: owned by uid %d, expected root or uid %d (sesamed runs its commands as this user)", path, uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing %s: mode %04o lets others change it, expected it writable by its owner only (chmod go-w %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}
