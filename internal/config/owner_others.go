//go:build !unix

package config

import "io/fs"

// checkTrusted has nothing to check where files carry no Unix owner.
func checkTrusted(string, fs.FileInfo) error { return nil }
