package pgtest

import "syscall"

// procAttr runs the server as the user u (when set: PostgreSQL refuses
// to run as root) and has the kernel kill it when the test process dies,
// so a test killed mid-way leaves no server behind. Go sets the
// parent-death signal after changing the credentials, which would
// otherwise clear it.
func procAttr(u *runAs) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
	}
	return a
}
