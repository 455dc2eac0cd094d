//go:build !linux

package cluster

import "syscall"

// agentSysProcAttr puts an agent in its own process group. Without a
// parent-death signal, the agent relies on its stdin closing.
func agentSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
