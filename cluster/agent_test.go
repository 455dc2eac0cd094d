package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-agent")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func startWith(l cluster.Launcher, nodes ...string) error {
	prof, _ := membership.LookupProfile("test")
	c, err := cluster.Start(context.Background(), l, cluster.Options{Name: "c", Profile: prof, Nodes: nodes})
	if err == nil {
		c.Stop(context.Background())
	}
	return err
}

func TestAgentLauncherSaysWhatIsWrongWithTheBinary(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		binary string
		want   []string
	}{
		{"/nonexistent/agent", []string{"agent binary /nonexistent/agent: no such file"}},
		{dir, []string{"agent binary " + dir + ": is a directory"}},
		{plain, []string{"agent binary " + plain + ": is not executable"}},
		{"no-such-agent-on-path", []string{"not found in $PATH"}},
		{script(t, "echo 'boot failed: no config' >&2\nexit 3\n"), []string{"agents n1, n2: ", "exited (exit status 3) before printing its ready line", "its stderr:\nboot failed: no config"}},
		{script(t, "echo 'usage: fake-agent [serve]'\nsleep 30\n"), []string{`printed "usage: fake-agent [serve]" instead of its ready line`}},
	} {
		err := startWith(&cluster.AgentLauncher{Binary: tc.binary}, "n1", "n2")
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("agent %s: %v, want %q", tc.binary, err, w)
			}
		}
		if err != nil && strings.Count(err.Error(), "\n") > 2 {
			t.Errorf("agent %s: the nodes' identical failures are not said once:\n%v", tc.binary, err)
		}
	}
}

func TestAgentThatNeverGetsReadyIsKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	bin := script(t, "echo $$ > "+pidFile+"\necho 'waiting for godot' >&2\nexec sleep 60\n")
	// The timeout leaves the script ample time to write its stderr even on
	// a loaded machine: what is checked is that it is shown, and that the
	// process is gone.
	err := startWith(&cluster.AgentLauncher{Binary: bin, ReadyTimeout: 2 * time.Second}, "n1")
	if err == nil || !strings.Contains(err.Error(), "printed no ready line within 2s") || !strings.Contains(err.Error(), "waiting for godot") {
		t.Fatalf("never-ready agent: %v", err)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the never-ready agent (pid %d) outlived its failed start: %v", pid, err)
	}
}

func TestAgentOps(t *testing.T) {
	ops, err := cluster.AgentOps(context.Background(), binary)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, o := range ops {
		got = append(got, o.Name)
	}
	for _, o := range node.Builtin().Ops() {
		want = append(want, o.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("clusterscript ops --json lists %v, want %v", got, want)
	}
	_, err = cluster.AgentOps(context.Background(), script(t, "echo 'not json'\n"))
	if err == nil || !strings.Contains(err.Error(), "did not print its operations as JSON") {
		t.Errorf("a binary that is not an agent: %v", err)
	}
}
