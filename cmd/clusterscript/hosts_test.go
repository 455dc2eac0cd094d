package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/hosts"
	"github.com/clusterscript/clusterscript/internal/testlab"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// The tests of nodes on other hosts run on the lab scripts/lab builds
// (make test brings one up as root and names it in $CLUSTERSCRIPT_LAB).

// lab returns the lab's inventory and holds the lab for the test, or
// skips it when there is no lab.
func lab(t *testing.T) hosts.Inventory { return testlab.Inventory(t) }

// writeInventory writes dir/clusterscript.yaml with inv as hosts "lab".
func writeInventory(t *testing.T, dir string, inv hosts.Inventory) string {
	t.Helper()
	var addrs []string
	for _, a := range inv.Addrs {
		addrs = append(addrs, fmt.Sprintf("%q", a))
	}
	path := filepath.Join(dir, "clusterscript.yaml")
	writeFile(t, path, fmt.Sprintf("hosts:\n  lab:\n    user: %s\n    identity: %s\n    known_hosts: %s\n    addrs: [%s]\n",
		inv.User, inv.Identity, inv.KnownHosts, strings.Join(addrs, ", ")))
	return path
}

// caseRan is what a scenario prints when its case runs.
const caseRan = "the case ran"

func TestHostsProblemsAreErrorsNamingTheHostBeforeAnyCase(t *testing.T) {
	inv := lab(t)
	dir := t.TempDir()
	scenario := filepath.Join(dir, "s.star")
	writeFile(t, scenario, "def test_x():\n    print(\""+caseRan+"\")\n    c = cluster.start(nodes=2)\n    c.wait_converged()\n")

	// A known_hosts that holds another key for the first host.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(dir, "changed_known_hosts")
	writeFile(t, changed, knownhosts.Line([]string{inv.Addrs[0]}, other)+"\n")
	empty := filepath.Join(dir, "empty_known_hosts")
	writeFile(t, empty, "")

	for _, tc := range []struct {
		name  string
		edit  func(*hosts.Inventory)
		flags []string
		want  []string
		code  int // 0: 2, a usage or set-up error
	}{
		{"unknown host key", func(i *hosts.Inventory) { i.KnownHosts = empty },
			nil, []string{"host " + inv.Addrs[0] + " (hosts lab)", "is not in " + empty, "refusing an unknown host"}, 0},
		{"changed host key", func(i *hosts.Inventory) { i.KnownHosts = changed },
			nil, []string{"host " + inv.Addrs[0] + " (hosts lab)", "refusing a changed host key"}, 0},
		{"unreachable host", func(i *hosts.Inventory) { i.Addrs = []string{inv.Addrs[0], inv.Addrs[1] + ":1"} },
			nil, []string{"host " + inv.Addrs[1] + " (hosts lab)", "cannot reach its SSH server", "connection refused"}, 0},
		{"missing agent binary", nil,
			[]string{"--agent", filepath.Join(dir, "no-such-agent")}, []string{"agent binary " + filepath.Join(dir, "no-such-agent"), "no such file"}, 1},
		{"no such inventory", nil,
			[]string{"--hosts", "elsewhere"}, []string{"--hosts elsewhere: no such inventory (defined: lab)"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := inv
			if tc.edit != nil {
				tc.edit(&i)
			}
			cfg := writeInventory(t, t.TempDir(), i)
			args := append([]string{"run", "--config", cfg, "--hosts", "lab"}, tc.flags...)
			out, code := cliRun(t, append(args, scenario)...)
			want := cmp.Or(tc.code, 2)
			if code != want {
				t.Errorf("exit %d, want %d (an error before any case); output:\n%s", code, want, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, caseRan) {
				t.Errorf("the case ran:\n%s", out)
			}
		})
	}

	t.Run("missing tool for kernel faults", func(t *testing.T) {
		// A host whose sessions find the tools to copy a binary but not
		// flock (the runner adds /usr/sbin, so nft is still found): an
		// sshd of the test's own in the first host's namespace, with a
		// PATH that holds only those.
		addr := inv.Addrs[0]
		bin := filepath.Join(t.TempDir(), "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tool := range []string{"cat", "mkdir", "mv", "chmod", "rm", "sha256sum", "sh"} {
			path, err := exec.LookPath(tool)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(path, filepath.Join(bin, tool)); err != nil {
				t.Fatal(err)
			}
		}
		i := inv
		i.Addrs = []string{addr + ":2222"}
		known := filepath.Join(t.TempDir(), "known_hosts")
		startSSHD(t, addr, 2222, bin, known)
		i.KnownHosts = known
		cfg := writeInventory(t, t.TempDir(), i)
		out, code := cliRun(t, "run", "--config", cfg, "--hosts", "lab", "--faults", "kernel", scenario)
		if code != 2 {
			t.Errorf("exit %d, want 2; output:\n%s", code, out)
		}
		for _, w := range []string{"host " + addr + " (hosts lab)", `faults="kernel" needs flock (Debian: util-linux)`} {
			if !strings.Contains(out, w) {
				t.Errorf("the error does not say %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, caseRan) {
			t.Errorf("the case ran:\n%s", out)
		}
	})
}

// startSSHD starts an sshd in the namespace of the lab host at addr,
// listening on port, whose sessions' PATH is path; known gets its key.
// The sshd is stopped when the test ends.
func startSSHD(t *testing.T, addr string, port int, path, known string) {
	t.Helper()
	labDir := os.Getenv("CLUSTERSCRIPT_LAB")
	ns := labNamespace(t, addr)
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, known, fmt.Sprintf("[%s]:%d %s", addr, port, pub))
	pidFile := filepath.Join(dir, "sshd.pid")
	cmd := exec.Command("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-f", "/dev/null",
		"-o", fmt.Sprintf("ListenAddress=%s:%d", addr, port), "-o", "HostKey="+hostKey,
		"-o", "AuthorizedKeysFile="+filepath.Join(labDir, "authorized_keys"), "-o", "PidFile="+pidFile,
		"-o", "StrictModes=no", "-o", "PermitRootLogin=prohibit-password", "-o", "SetEnv=PATH="+path,
		"-E", filepath.Join(dir, "sshd.log"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sshd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if data, err := os.ReadFile(pidFile); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(data), &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	// sshd writes its pid file once it listens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on %s:%d wrote no pid file within 10s", addr, port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// labNamespace is the network namespace of the lab host at addr.
func labNamespace(t *testing.T, addr string) string {
	t.Helper()
	for _, ns := range labNamespaces(t) {
		out, err := exec.Command("ip", "netns", "exec", ns, "ip", "-o", "-4", "addr", "show").Output()
		if err == nil && strings.Contains(string(out), " "+addr+"/") {
			return ns
		}
	}
	t.Fatalf("no lab namespace holds %s", addr)
	return ""
}

// labNamespaces are the lab's network namespaces.
func labNamespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && regexp.MustCompile(`^cslab\d+$`).MatchString(f[0]) {
			names = append(names, f[0])
		}
	}
	return names
}

// runTables returns, per lab namespace, the nftables tables of runs
// (clusterscript_*) it holds.
func runTables(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, ns := range labNamespaces(t) {
		b, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "tables").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list tables in %s: %v: %s", ns, err, b)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "clusterscript_") {
				out[ns] = append(out[ns], f[2])
			}
		}
	}
	return out
}

// waitFor polls cond every 50ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAKilledRunnerLeavesNoAgentAndTheNextRunRemovesItsRules(t *testing.T) {
	inv := lab(t)
	dir := t.TempDir()
	cfg := writeInventory(t, dir, inv)
	name := "killed" + strings.ToLower(rand.Text()[:8])
	scenario := filepath.Join(dir, "s.star")
	writeFile(t, scenario, fmt.Sprintf(`def test_partition_then_wait():
    c = cluster.start(nodes=3, name=%q)
    c.wait_converged()
    c.partition(["n1"], ["n2", "n3"])
    print("partitioned")
    sleep("120s")
`, name))
	before := map[string]bool{}
	for _, ts := range runTables(t) {
		for _, tt := range ts {
			before[tt] = true
		}
	}
	pr, pw := io.Pipe()
	cmd, exited := startRun(t, name, pw, "run", "-v", "--no-color", "--config", cfg, "--hosts", "lab", "--faults", "kernel", "--timeout", "5m", scenario)
	go func() { <-exited; pw.Close() }()
	partitionedCh := make(chan struct{})
	partitioned := partitionedCh
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if partitioned != nil && strings.Contains(sc.Text(), "partitioned") {
				close(partitioned)
				partitioned = nil
			}
		}
	}()
	select {
	case <-partitionedCh:
	case <-time.After(60 * time.Second):
		t.Fatalf("the run did not partition its cluster within 60s")
	}
	if n := len(agentsOf(name)); n != 3 {
		t.Fatalf("%d agents of cluster %s run, want 3", n, name)
	}
	var table string
	for _, ts := range runTables(t) {
		for _, tt := range ts {
			if !before[tt] {
				table = tt
			}
		}
	}
	if table == "" {
		t.Fatalf("no host holds a run's table during a kernel partition")
	}

	// SIGKILL: the runner cleans nothing up itself.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	waitFor(t, 30*time.Second, "every agent of the killed run gone", func() bool { return len(agentsOf(name)) == 0 })
	left := 0
	for _, ts := range runTables(t) {
		for _, tt := range ts {
			if tt == table {
				left++
			}
		}
	}
	if left == 0 {
		t.Fatalf("the killed run's table %s is gone before any later run: this test would show nothing", table)
	}

	// The killed run's guards end with its SSH connections, which the
	// hosts' sshd notice as the kernel closes them.
	lockOf := regexp.MustCompile(`comment "run lock (/tmp/clusterscript-runs/[^"]+)"`)
	for _, ns := range labNamespaces(t) {
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", table).CombinedOutput()
		if err != nil {
			continue // not on this host
		}
		m := lockOf.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("the table %s in %s names no run lock:\n%s", table, ns, out)
		}
		waitFor(t, 30*time.Second, "the killed run's lock "+m[1]+" free", func() bool {
			return exec.Command("flock", "-n", m[1], "true").Run() == nil
		})
	}

	// The next run with kernel faults sweeps it away.
	next := filepath.Join(dir, "next.star")
	writeFile(t, next, "def test_ok():\n    c = cluster.start(nodes=2)\n    c.wait_converged()\n")
	out, code := cliRun(t, "run", "--config", cfg, "--hosts", "lab", "--faults", "kernel", next)
	if code != 0 {
		t.Fatalf("the next run failed (exit %d):\n%s", code, out)
	}
	if !strings.Contains(out, "removed nftables table "+table+", left by a run that ended") {
		t.Errorf("the next run does not say it removed %s:\n%s", table, out)
	}
	for ns, ts := range runTables(t) {
		for _, tt := range ts {
			if tt == table {
				t.Errorf("%s still holds the killed run's table %s", ns, table)
			}
		}
	}
}

func TestAKernelPartitionIsTheRunsTableUntilHeal(t *testing.T) {
	inv := lab(t)
	ctx := context.Background()
	fleet := hosts.NewFleet(hosts.NewRunName(), map[string]hosts.Inventory{"lab": inv}, nil)
	t.Cleanup(func() { _ = fleet.Close(ctx) })
	hs, err := fleet.Hosts(ctx, "lab", true)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := membership.LookupProfile("test")
	if err != nil {
		t.Fatal(err)
	}
	l := &cluster.HostLauncher{Hosts: hs[:3], Binary: binary(t), Kernel: true}
	c, err := cluster.Start(ctx, l, cluster.Options{Name: "kernel", Profile: prof, Nodes: []string{"n1", "n2", "n3"}, Faults: cluster.FaultsKernel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill(ctx) })
	if _, err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	table := hosts.TableName(fleet.Run())
	ns := labNamespace(t, hs[0].Addr())
	ruleset := func() string {
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset in %s: %v: %s", ns, err, out)
		}
		return string(out)
	}
	if strings.Contains(ruleset(), table) {
		t.Fatalf("%s holds the run's table %s before any fault", ns, table)
	}

	if err := c.Partition(ctx, [][]string{{"n1"}, {"n2", "n3"}}); err != nil {
		t.Fatal(err)
	}
	during := ruleset()
	for _, want := range []string{"table inet " + table, "ip saddr " + hs[1].Addr() + " drop", "ip daddr " + hs[2].Addr() + " drop"} {
		if !strings.Contains(during, want) {
			t.Errorf("during the partition, n1's host's ruleset has no %q:\n%s", want, during)
		}
	}
	n1, err := c.Node("n1")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "n1 sees only itself", func() bool {
		m, err := n1.Members(ctx)
		return err == nil && slices.Equal(m, []string{"n1"})
	})

	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if after := ruleset(); strings.Contains(after, table) {
		t.Errorf("after heal, n1's host still holds the run's table:\n%s", after)
	}
	if _, err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
