package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// noEcho turns off the echo of a terminal, so a share typed at "gshare
// keys join" is not shown, and returns the function that turns it back on.
// Line editing and Ctrl-C keep working.
func noEcho(tty *os.File) (restore func()) {
	fd := int(tty.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	old := *t
	t.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return func() {}
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, &old) }
}
