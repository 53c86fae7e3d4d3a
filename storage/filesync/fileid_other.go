//go:build !unix && !windows

package filesync

import "io/fs"

// fileID gives no identity here (plan9, wasm): moves are found by
// content.
func fileID(string, fs.FileInfo) string { return "" }
