package cluster_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history"
)

// A real node whose process ends without the runner asking (killed from
// outside, as a crash would end it) is noticed at once: it is crashed,
// the history says how it ended, the check names it, its peers' view of
// its failure is explained by it, and it can be restarted.
func TestANodeThatDiesOnItsOwnIsCrashed(t *testing.T) {
	c := start(t, &cluster.AgentLauncher{Binary: binary}, 3, 1)
	ctx := context.Background()
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n2, _ := c.Node("n2")
	if err := syscall.Kill(n2.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n2.Status() != cluster.Crashed {
		if time.Now().After(deadline) {
			t.Fatalf("n2 is %s 10s after its process was killed from outside, want crashed", n2.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var crash []history.Record
	for _, r := range c.History(ctx) {
		if r.Kind == history.KindCrash {
			crash = append(crash, r)
		}
	}
	if len(crash) != 1 || crash[0].Node != "n2" || crash[0].Fields["exit"] != "signal: killed" {
		t.Fatalf("crash records %+v, want one for n2 ending with signal: killed", crash)
	}
	findings := c.Check(ctx)
	if len(findings) != 1 || findings[0].Check != history.CheckUnexpectedExit || findings[0].Node != "n2" {
		t.Fatalf("findings %+v, want only n2's unexpected_exit (its peers' view of its failure is explained by it)", findings)
	}
	if err := n2.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n1, _ := c.Node("n1")
	if got, _ := n1.Members(ctx); !slices.Equal(got, []string{"n1", "n2", "n3"}) || n2.Status() != cluster.Running {
		t.Fatalf("after the restart n1 sees %v and n2 is %s", got, n2.Status())
	}
	// The runner's own kill is no crash.
	if err := n2.Kill(ctx); err != nil || n2.Status() != cluster.Killed {
		t.Fatalf("kill: %v, n2 is %s", err, n2.Status())
	}
}

// Each node has a data directory of its own, kept across a kill and a
// restart, emptied by Wipe, and removed with the cluster.
func TestDataDirectoriesLiveAsLongAsTheCluster(t *testing.T) {
	for name, l := range launchers() {
		t.Run(name, func(t *testing.T) {
			c := start(t, l(), 2, 1)
			ctx := context.Background()
			n1, _ := c.Node("n1")
			n2, _ := c.Node("n2")
			if n1.DataDir() == "" || n1.DataDir() == n2.DataDir() {
				t.Fatalf("data directories %q and %q", n1.DataDir(), n2.DataDir())
			}
			kept := filepath.Join(n1.DataDir(), "kept")
			if err := os.WriteFile(kept, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := n1.Kill(ctx); err != nil {
				t.Fatal(err)
			}
			if err := n1.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(kept); err != nil {
				t.Fatalf("after a kill and restart: %v", err)
			}
			if err := n1.Wipe(); err == nil {
				t.Fatal("a running node's data directory was wiped")
			}
			c.Kill(ctx)
			if _, err := os.Stat(filepath.Dir(n1.DataDir())); !os.IsNotExist(err) {
				t.Fatalf("the cluster's data directories outlive it: %v", err)
			}
		})
	}
}
