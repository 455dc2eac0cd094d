// Package testlab gives tests the hosts lab that scripts/lab builds (make
// test brings one up as root and names its directory in
// $CLUSTERSCRIPT_LAB), one test at a time: kernel faults cut hosts, so
// two tests on the same hosts at once would cut each other.
package testlab

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clusterscript/clusterscript/config"
	"github.com/clusterscript/clusterscript/hosts"
)

// Env names the lab's directory.
const Env = "CLUSTERSCRIPT_LAB"

// Inventory returns the lab's inventory "lab" and holds the lab for tb
// until it ends; without a lab it skips tb.
func Inventory(tb testing.TB) hosts.Inventory {
	tb.Helper()
	dir := os.Getenv(Env)
	if dir == "" {
		tb.Skip("no hosts lab: run as root with scripts/lab up 5 and " + Env + "=/tmp/clusterscript-lab (make test does)")
	}
	cfg, err := config.Load(filepath.Join(dir, "clusterscript.yaml"))
	if err != nil {
		tb.Fatalf("the lab's inventory: %v", err)
	}
	inv, ok := cfg.Hosts["lab"]
	if !ok || len(inv.Addrs) < 3 {
		tb.Fatalf("the lab's inventory has no hosts lab of at least 3 hosts: %+v", cfg.Hosts)
	}
	Hold(tb)
	return inv
}

// Hold takes the lab for tb until it ends, waiting for any other test
// process that holds it.
func Hold(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(os.Getenv(Env), ".tests.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatalf("the lab's test lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		tb.Fatalf("the lab's test lock: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
}
