//go:build !linux

package pgtest

import "syscall"

// procAttr: only Linux ties a child's life to its parent's, and the
// switch to an unprivileged user is done on Linux only (the test
// machines); elsewhere the server runs as the test's user and Stop (run
// by the test's cleanup) ends it.
func procAttr(u *runAs) *syscall.SysProcAttr { return nil }
