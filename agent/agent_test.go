package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// withOp is the built-in registry plus one operation of the program's.
func withOp(t *testing.T) *node.Registry {
	t.Helper()
	reg := node.Builtin()
	err := reg.AddOp(arsenal.Op{
		Spec: arsenal.OpSpec{Name: "greet", Summary: "say hello", Params: []arsenal.ParamSpec{{Name: "who", Type: "string", Default: "world"}}},
		Run: func(_ context.Context, c *arsenal.Call) (any, error) {
			return "hello " + c.Args.String("who") + " from " + c.Host().Name(), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestMainCommands(t *testing.T) {
	reg := withOp(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"svc"}, 2, `svc: want a command, agent (run one node) or ops (list its operations); got none`},
		{[]string{"svc", "serve"}, 2, `got "serve"`},
		{[]string{"svc", "ops", "--jsn"}, 2, "flag provided but not defined: -jsn"},
		{[]string{"svc", "agent", "--name", "a"}, 2, "svc: agent: no cookie: set $CLUSTERSCRIPT_COOKIE or --cookie"},
		{[]string{"svc", "agent", "--cookie", "c", "--profile", "fast"}, 2, `unknown gossip profile "fast"`},
		{[]string{"svc", "ops"}, 0, "greet — say hello"},
	} {
		t.Setenv(cluster.CookieEnv, "")
		var out, errw bytes.Buffer
		code := run(reg, tc.args, strings.NewReader(""), &out, &errw)
		if code != tc.code || !strings.Contains(out.String()+errw.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d and %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.want, out.String(), errw.String())
		}
	}
	var out bytes.Buffer
	if code := run(reg, []string{"svc", "ops", "--json"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("ops --json: exit %d", code)
	}
	var specs []arsenal.OpSpec
	if err := json.Unmarshal(out.Bytes(), &specs); err != nil || len(specs) != len(node.Builtin().Ops())+1 || specs[len(specs)-1].Name != "greet" {
		t.Fatalf("ops --json: %v, %d specs", err, len(specs))
	}
}

// The agent command prints its ready line, serves the program's
// operations and the control channel, and exits when stdin closes.
func TestAgentServesAndExitsWithItsRunner(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(withOp(t), []string{"svc", "agent", "--name", "a1", "--cookie", "k", "--watch-stdin"}, stdinR, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	sc := bufio.NewScanner(stdoutR)
	if !sc.Scan() {
		t.Fatal("no ready line")
	}
	var ready cluster.Ready
	if err := json.Unmarshal(sc.Bytes(), &ready); err != nil || ready.Name != "a1" || ready.PID != os.Getpid() {
		t.Fatalf("ready line %q: %v", sc.Text(), err)
	}
	cl := rpc.NewClient("k", "test", func(addr string, timeout time.Duration) (net.Conn, error) {
		return net.DialTimeout("tcp", addr, timeout)
	})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var greeting string
	if err := cl.Call(ctx, ready.Addr, "op.call", map[string]any{"op": "greet", "params": map[string]any{"who": "you"}}, &greeting); err != nil || greeting != "hello you from a1" {
		t.Fatalf("greet: %q %v", greeting, err)
	}
	var pid int
	if err := cl.Call(ctx, ready.Addr, "ctl.pid", nil, &pid); err != nil || pid != os.Getpid() {
		t.Fatalf("ctl.pid: %d %v", pid, err)
	}
	stdinW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after stdin closed", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not exit when its stdin closed")
	}
}

// A program's agent binary links the engine, not the Starlark runner.
func TestAgentLinksNoStarlark(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, bad := range []string{"go.starlark.net/starlark", "github.com/clusterscript/clusterscript/builtins", "github.com/clusterscript/clusterscript/scenario"} {
		if strings.Contains(string(out)+"\n", bad+"\n") {
			t.Errorf("package agent imports %s: a service's binary would carry the scenario runner", bad)
		}
	}
}
