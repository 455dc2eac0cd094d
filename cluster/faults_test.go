package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// A node that hangs (its answers slowed by an hour) costs each runner call
// at most ControlTimeout: members() on it fails with a timeout naming it,
// events() comes back with the others' events, and partition() is not held
// up at all (fault-setting calls are never slowed).
func TestHungNodeDoesNotStallTheRunner(t *testing.T) {
	c := start(t, cluster.NewSimLauncher(nil), 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n3, _ := c.Node("n3")
	if err := n3.SlowRPC(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	bound := cluster.ControlTimeout + 2*time.Second

	began := time.Now()
	_, err := n3.Members(ctx)
	if errcode.Code(err) != errcode.Timeout || took(began) > bound {
		t.Fatalf("members() of a hung node: %v after %s, want a timeout within %s", err, took(began), bound)
	}

	began = time.Now()
	evs := c.Events(ctx)
	if took(began) > bound {
		t.Fatalf("events() took %s with a hung node, want at most %s", took(began), bound)
	}
	var joins []string
	for _, e := range evs {
		if e.Kind == "join" && e.Node == "n1" {
			joins = append(joins, e.Peer)
		}
	}
	if !slices.Contains(joins, "n2") {
		t.Fatalf("events() lost n1's observations: %v", evs)
	}

	began = time.Now()
	if err := c.Partition(ctx, [][]string{{"n1"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if took(began) > bound {
		t.Fatalf("partition() and heal() took %s with a hung node", took(began))
	}
	if err := n3.SlowRPC(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := n3.Members(ctx); err != nil {
		t.Fatalf("members() once the delay is cleared: %v", err)
	}
}

func took(since time.Time) time.Duration { return time.Since(since).Round(time.Millisecond) }

// A paused node is out of the running set until resumed; killing it, or
// tearing its cluster down, does not wait for it.
func TestPausedNodeCanBeKilled(t *testing.T) {
	for backend, mk := range launchers() {
		t.Run(backend, func(t *testing.T) {
			c := start(t, mk(), 3, 1)
			ctx := context.Background()
			if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			n2, _ := c.Node("n2")
			n3, _ := c.Node("n3")
			for _, n := range []*cluster.Node{n2, n3} {
				if err := n.Pause(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := n3.Pause(ctx); err == nil {
				t.Fatal("pausing a paused node succeeded")
			}
			if err := n3.Restart(ctx); err == nil {
				t.Fatal("restarting a paused node succeeded")
			}
			if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := n3.Kill(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n3.Status() != cluster.Killed {
				t.Fatalf("status after kill: %s", n3.Status())
			}
			began := time.Now()
			c.Stop(context.Background()) // resumes n2 so that it can leave
			if n2.Status() != cluster.Stopped || took(began) > 5*time.Second {
				t.Fatalf("n2 is %s after %s", n2.Status(), took(began))
			}
		})
	}
}
