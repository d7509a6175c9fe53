//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package replay

import "os"

// locking reports whether lockFile locks.
const locking = false

// lockFile does nothing here. The daemon runs on Linux only; on other
// systems the package only has to compile (for tools and tests), so two
// Caches on one file are not prevented there. Open still creates the lock
// file, so that the directory looks the same everywhere.
func lockFile(*os.File) error { return nil }
