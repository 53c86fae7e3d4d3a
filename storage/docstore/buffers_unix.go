//go:build unix

package docstore

import "golang.org/x/sys/unix"

// allocPart maps n bytes of anonymous memory, outside the Go heap; where
// the system refuses, the heap serves.
func allocPart(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

// releasePages gives the pages of an idle buffer back to the system; it
// stays mapped and reads as zeros until written again (an idle buffer's
// contents are of no use).
func releasePages(b []byte) {
	unix.Madvise(b, unix.MADV_DONTNEED)
}
