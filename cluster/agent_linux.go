package cluster

import "syscall"

// agentSysProcAttr puts an agent in its own process group (so that it can
// be killed whole, and a terminal's Ctrl-C reaches the runner first) and
// has the kernel kill it when the runner dies. Linux sends the parent-death
// signal when the forking *thread* exits, which a Go program does only when
// a goroutine locked to it ends; the agent also exits when its stdin (the
// runner's pipe) closes, so either way it does not outlive the runner.
func agentSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
