// Package hosts reaches the machines real nodes run on over SSH, as Jepsen
// does: an inventory names them, a Fleet holds one run's connections, and
// a Host runs commands, copies binaries and applies kernel faults on one
// of them.
//
//   - Inventory: a named group of hosts (clusterscript.yaml's hosts:), with
//     the user, the identity and the known_hosts file to reach them by.
//   - Fleet: one run's view of its inventories. It connects to each host
//     once, verifies its key against known_hosts and never prompts, checks
//     the tools the run needs there, and holds a guard on each host that
//     marks the run alive (see Guard). Close removes what the run left.
//   - Host: one machine. Run and Start run shell commands in SSH sessions
//     (a refused session opens another connection); Install copies a
//     binary once per run, checked by its SHA-256 digest; SetRules puts
//     a cluster's network faults into the kernel (kernel.go).
//
// Nothing here knows about clusters or agents: package cluster launches
// agents on Hosts, as it launches them on this machine.
package hosts

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Inventory is a named group of hosts reached over SSH.
type Inventory struct {
	// Name is the inventory's name in the configuration file.
	Name string
	// User logs in on every host (default: the runner's user).
	User string
	// Identity is the private key file (default: ~/.ssh/id_ed25519, then
	// id_ecdsa, then id_rsa). A key protected by a passphrase is refused:
	// the runner never prompts.
	Identity string
	// KnownHosts is the known_hosts file host keys are checked against
	// (default ~/.ssh/known_hosts). A host missing from it, or with
	// another key, is refused.
	KnownHosts string
	// Addrs are the hosts, as "addr" or "addr:port" (default port 22).
	// Agents bind to addr, so it must be the host's address on the
	// network its nodes share, not a name only the runner resolves.
	Addrs []string
}

// Validate checks what can be checked without reaching the hosts.
func (inv Inventory) Validate() error {
	if len(inv.Addrs) == 0 {
		return fmt.Errorf("hosts %s: addrs: want at least one address", inv.Name)
	}
	seen := map[string]bool{}
	for _, a := range inv.Addrs {
		host, _, err := splitAddr(a)
		if err != nil {
			return fmt.Errorf("hosts %s: addrs: %w", inv.Name, err)
		}
		if seen[host] {
			return fmt.Errorf("hosts %s: addrs: %s is listed twice (a host holds its nodes apart by port, not by listing it again)", inv.Name, host)
		}
		seen[host] = true
	}
	return nil
}

// splitAddr reads "addr" or "addr:port" into the host to bind agents to
// and the address of its SSH server.
func splitAddr(a string) (host, sshAddr string, err error) {
	a = strings.TrimSpace(a)
	if a == "" {
		return "", "", fmt.Errorf("an empty address")
	}
	if h, p, err := net.SplitHostPort(a); err == nil {
		if h == "" || p == "" {
			return "", "", fmt.Errorf("%q: want addr or addr:port", a)
		}
		return h, a, nil
	}
	if strings.Count(a, ":") > 1 { // a bare IPv6 address
		return a, net.JoinHostPort(a, "22"), nil
	}
	if strings.ContainsAny(a, " /") {
		return "", "", fmt.Errorf("%q: want addr or addr:port", a)
	}
	return a, net.JoinHostPort(a, "22"), nil
}

// expandHome expands a leading ~/ to the runner's home directory.
func expandHome(path string) string {
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(path, "~"))
		}
	}
	return path
}
