//go:build !unix

package door

import "syscall"

// detached has nothing to set where there are no sessions.
func detached() *syscall.SysProcAttr { return nil }
