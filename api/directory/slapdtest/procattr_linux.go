package slapdtest

import "syscall"

// procAttr has the kernel kill slapd when the test process dies, so a
// test killed mid-way leaves no directory server behind.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
