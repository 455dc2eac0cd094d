package cluster_test

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/internal/testbin"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// binary is the clusterscript executable built for real-node tests.
var binary string

func TestMain(m *testing.M) { testbin.Main(m, "../cmd/clusterscript", &binary) }

func launchers() map[string]func() cluster.Launcher {
	return map[string]func() cluster.Launcher{
		"sim":  func() cluster.Launcher { return cluster.NewSimLauncher(nil) },
		"real": func() cluster.Launcher { return &cluster.AgentLauncher{Binary: binary} },
	}
}

func start(t *testing.T, l cluster.Launcher, n int, seed int64) *cluster.Cluster {
	t.Helper()
	prof, err := membership.LookupProfile("test")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, "n"+string(rune('0'+i)))
	}
	c, err := cluster.Start(context.Background(), l, cluster.Options{Name: t.Name(), Profile: prof, Seed: seed, Nodes: names})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill(context.Background()) })
	return c
}

func TestStartConvergeKill(t *testing.T) {
	for backend, mk := range launchers() {
		t.Run(backend, func(t *testing.T) {
			c := start(t, mk(), 3, 1)
			ctx := context.Background()
			if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			n3, _ := c.Node("n3")
			pid := n3.PID()
			if err := n3.Kill(context.Background()); err != nil {
				t.Fatal(err)
			}
			if backend == "real" {
				if err := syscall.Kill(pid, 0); err == nil {
					t.Fatalf("agent %d still exists after kill", pid)
				}
			}
			if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			n1, _ := c.Node("n1")
			if got, _ := n1.Members(ctx); !slices.Equal(got, []string{"n1", "n2"}) {
				t.Fatalf("n1 sees %v, want [n1 n2]", got)
			}
		})
	}
}

// Under a partition, converged means each running node sees the running
// nodes it can reach; right after the split nobody has noticed it yet, so
// a wait shorter than failure detection fails and shows who sees whom.
func TestWaitConvergedUnderAPartition(t *testing.T) {
	c := start(t, cluster.NewSimLauncher(nil), 4, 1)
	ctx := context.Background()
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Partition(ctx, [][]string{{"n1"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Reach(), [][]string{{"n1"}, {"n2", "n3", "n4"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Reach() = %v, want %v", got, want)
	}
	// Detection takes at least the suspicion timeout (160ms here).
	_, err := c.WaitConverged(ctx, time.Millisecond)
	if err == nil {
		t.Fatal("converged before anyone could notice the partition")
	}
	for _, want := range []string{"did not converge", "[n1] | [n2 n3 n4]", "n1 sees [n1 n2 n3 n4]", "n4 sees"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"n1": {"n1"}, "n2": {"n2", "n3", "n4"}, "n4": {"n2", "n3", "n4"}} {
		n, _ := c.Node(name)
		if got, err := n.Members(ctx); err != nil || !slices.Equal(got, want) {
			t.Errorf("after converging, %s sees %v (%v), want %v", name, got, err, want)
		}
	}
	// A killed node leaves its group; a loss of every packet cuts a link.
	n4, _ := c.Node("n4")
	if err := n4.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Reach(), [][]string{{"n1", "n2", "n3"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("after heal, Reach() = %v, want %v", got, want)
	}
	for _, peer := range []string{"n2", "n3"} {
		if err := c.SetLink(ctx, "n1", peer, 0, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := c.Reach(), [][]string{{"n1"}, {"n2", "n3"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("n1's links all lost: Reach() = %v, want %v", got, want)
	}
	if err := c.SetLink(ctx, "n1", "n3", 0, 0, 0.5); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Reach(), [][]string{{"n1", "n2", "n3"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("n1 reaches n2 through n3: Reach() = %v, want %v", got, want)
	}
}

// Two runs with the same seed make the same loss decisions on every link;
// another seed makes different ones.
func TestSeededFaultsAreReproducible(t *testing.T) {
	run := func(seed int64) map[string]map[string][]bool {
		c := start(t, cluster.NewSimLauncher(nil), 3, seed)
		ctx := context.Background()
		if err := c.SetLink(ctx, "n1", "n2", 0, 0, 0.3); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			d, err := c.FaultDecisions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(d["n1"]["n2"]) >= 24 && len(d["n2"]["n1"]) >= 24 {
				c.Kill(context.Background())
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("too few packets on the lossy link: %d", len(d["n1"]["n2"]))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	a, b, other := run(42), run(42), run(7)
	for _, link := range [][2]string{{"n1", "n2"}, {"n2", "n1"}} {
		x, y, z := a[link[0]][link[1]][:24], b[link[0]][link[1]][:24], other[link[0]][link[1]][:24]
		if !slices.Equal(x, y) {
			t.Errorf("link %s→%s: seed 42 made different decisions in two runs:\n%v\n%v", link[0], link[1], x, y)
		}
		if slices.Equal(x, z) {
			t.Errorf("link %s→%s: seeds 42 and 7 made the same 24 decisions", link[0], link[1])
		}
		drops := 0
		for _, d := range x {
			if d {
				drops++
			}
		}
		if drops < 1 || drops > 18 {
			t.Errorf("link %s→%s: %d of 24 packets dropped at 30%% loss", link[0], link[1], drops)
		}
	}
}

// A name the engine would refuse, or a name given twice, fails the start
// with what is wrong before any node is started.
func TestStartRefusesBadNodeNames(t *testing.T) {
	for names, want := range map[string]string{
		"n1,n 2":  `cluster c: node name "n 2": ' ' at byte 1 is not allowed`,
		"n1,n1":   `cluster c: node names must be unique, got "n1" twice`,
		"n1,":     "cluster c: node name: empty",
		"n1,x/..": `cluster c: node name "x/..": '/' at byte 1`,
	} {
		l := &countingLauncher{Launcher: cluster.NewSimLauncher(nil)}
		_, err := cluster.Start(context.Background(), l, cluster.Options{Name: "c", Nodes: strings.Split(names, ",")})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("nodes %q: %v, want %s", names, err, want)
		}
		if l.launched > 0 {
			t.Errorf("nodes %q: %d nodes started before the names were checked", names, l.launched)
		}
	}
}

// countingLauncher counts the nodes it is asked to launch.
type countingLauncher struct {
	cluster.Launcher
	launched int
}

func (l *countingLauncher) Launch(ctx context.Context, spec cluster.NodeSpec) (cluster.Process, error) {
	l.launched++
	return l.Launcher.Launch(ctx, spec)
}
