//go:build !(cgo && linux)

package kv

import "github.com/cockroachdb/pebble/v2/vfs"

// DetachedSyncs reports whether this build syncs files on threads outside
// Go's scheduler: only Linux builds with cgo do.
const DetachedSyncs = false

// detachSyncs returns fs: this build syncs on the goroutine that asks.
func detachSyncs(fs vfs.FS) vfs.FS { return fs }
