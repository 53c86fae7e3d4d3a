//go:build !linux

package slapdtest

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's; elsewhere
// Stop (and the test's cleanup) ends slapd.
func procAttr() *syscall.SysProcAttr { return nil }
