//go:build windows

package filesync

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileID returns the identity of a file or folder, "volume:index" (the
// NTFS file index): it stays the same through a rename or a move within
// the volume, so a path that vanished and one that appeared with the same
// identity are one file moved. "" when the system gives none: content
// decides then.
func fileID(p string, _ fs.FileInfo) string {
	name, err := syscall.UTF16PtrFromString(p)
	if err != nil {
		return ""
	}
	// Access 0 reads attributes only; backup semantics opens folders too.
	h, err := syscall.CreateFile(name, 0, syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE,
		nil, syscall.OPEN_EXISTING, syscall.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return ""
	}
	defer syscall.CloseHandle(h)
	var info syscall.ByHandleFileInformation
	if err := syscall.GetFileInformationByHandle(h, &info); err != nil {
		return ""
	}
	return fmt.Sprintf("%x:%x%08x", info.VolumeSerialNumber, info.FileIndexHigh, info.FileIndexLow)
}
