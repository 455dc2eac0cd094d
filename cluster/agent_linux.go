package cluster

import "syscall"

// agentSysProcAttr puts an agent in its own process group (so that it can
// be killed whole, and a terminal's Ctrl-C reaches the runner first) and
// has the kernel kill it when the runner dies.
func agentSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
