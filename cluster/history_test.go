package cluster_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/nodelog"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// TestHistoryOfAPartitionAndAKill drives a cluster of each backend through
// a 2/3 partition, a heal and a kill, and reads back what the runner did
// and what every node pushed: in time order, fail on each side, the joins
// after the heal, the kill and the survivors' view of it, and the nodes'
// logs.
func TestHistoryOfAPartitionAndAKill(t *testing.T) {
	for backend, mk := range launchers() {
		t.Run(backend, func(t *testing.T) {
			prof, _ := membership.LookupProfile("test")
			rec := history.NewRecorder(time.Now())
			logs := nodelog.New(nodelog.Options{Origin: rec.Origin()})
			names := []string{"n1", "n2", "n3", "n4", "n5"}
			ctx := context.Background()
			c, err := cluster.Start(ctx, mk(), cluster.Options{Name: "c1", Profile: prof, Nodes: names, History: rec,
				NodeLog: func(n string) io.Writer { return logs.Writer(n) }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Kill(context.Background()) })
			if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := c.Partition(ctx, [][]string{{"n1", "n2"}, {"n3", "n4", "n5"}}); err != nil {
				t.Fatal(err)
			}
			waitViews(t, c, map[string][]string{"n1": {"n1", "n2"}, "n2": {"n1", "n2"}, "n3": {"n3", "n4", "n5"}, "n4": {"n3", "n4", "n5"}, "n5": {"n3", "n4", "n5"}})
			if err := c.Heal(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			n5, _ := c.Node("n5")
			if err := n5.Kill(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitViews(t, c, map[string][]string{"n1": {"n1", "n2", "n3", "n4"}})
			recs := c.History(ctx)

			var partition, heal, kill float64 = -1, -1, -1
			fails := map[string]bool{}
			joinsAfterHeal := map[string]bool{}
			for i, r := range recs {
				if i > 0 && r.T < recs[i-1].T {
					t.Fatalf("record %d (%v) is before record %d (%v)", i, r, i-1, recs[i-1])
				}
				if r.Cluster != "c1" {
					t.Fatalf("record without its cluster: %v", r)
				}
				switch {
				case r.Kind == history.KindPartition:
					partition = r.T
					if g := r.Groups(); !slices.Equal(g[0], []string{"n1", "n2"}) || !slices.Equal(g[1], []string{"n3", "n4", "n5"}) {
						t.Errorf("partition groups %v", g)
					}
				case r.Kind == history.KindHeal:
					heal = r.T
				case r.Kind == history.KindKill && r.Node == "n5":
					kill = r.T
				case r.Kind == observe.KindFail && partition >= 0 && heal < 0:
					fails[r.Node+">"+r.Peer] = true
				case r.Kind == observe.KindJoin && heal >= 0 && kill < 0:
					joinsAfterHeal[r.Node+">"+r.Peer] = true
				}
			}
			if partition < 0 || heal < partition || kill < heal {
				t.Fatalf("partition at %v, heal at %v, kill at %v:\n%s", partition, heal, kill, dump(recs))
			}
			for _, pair := range []string{"n1>n3", "n2>n5", "n3>n1", "n5>n2"} {
				if !fails[pair] {
					t.Errorf("no fail observed %s during the partition:\n%s", pair, dump(recs))
				}
				a, b, _ := strings.Cut(pair, ">")
				if !joinsAfterHeal[a+">"+b] {
					t.Errorf("no join %s after the heal", pair)
				}
			}
			var sawKill bool
			for _, r := range recs {
				if r.Kind == observe.KindFail && r.Peer == "n5" && r.T > kill {
					sawKill = true
				}
			}
			if !sawKill {
				t.Errorf("no survivor's fail of n5 after the kill:\n%s", dump(recs))
			}
			if fs := c.Check(ctx); len(fs) != 0 {
				t.Errorf("checks found %+v\n%s", fs, dump(recs))
			}
			for _, tail := range logs.Tails() {
				if !strings.Contains(strings.Join(tail.Lines, "\n"), "engine: ") && tail.Node != "n5" {
					t.Errorf("%s's log has no engine line: %q", tail.Node, tail.Lines)
				}
			}
			if len(logs.Tails()) != 5 {
				t.Errorf("logs of %d nodes", len(logs.Tails()))
			}
		})
	}
}

func waitViews(t *testing.T, c *cluster.Cluster, want map[string][]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		views, _ := c.Views(context.Background())
		ok := true
		for n, w := range want {
			if !slices.Equal(views[n].Members, w) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("views %v, want %v", views, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dump(recs []history.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintln(&b, r)
	}
	return b.String()
}
