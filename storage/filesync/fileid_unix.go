//go:build unix

package filesync

import (
	"io/fs"
	"strconv"
	"syscall"
)

// fileID returns the identity of a file or folder, "device:inode": it
// stays the same through a rename or a move within the file system, so a
// path that vanished and one that appeared with the same identity are one
// file moved. "" when the system gives none.
func fileID(_ string, fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(st.Ino, 10)
}
