package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/membership"
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
		t.Setenv(CookieEnv, "")
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

// running is an agent command run in this process, as a runner sees it.
type running struct {
	ready  Ready
	rpc    *rpc.Client
	stdin  io.Closer // closing it is the runner going away
	exited chan int  // the command's exit status
}

// runAgent runs the agent command with args over reg and waits for its
// ready line; the cookie is "k".
func runAgent(t *testing.T, reg *node.Registry, args ...string) *running {
	t.Helper()
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	r := &running{stdin: stdinW, exited: make(chan int, 1)}
	go func() {
		r.exited <- run(reg, append([]string{"svc"}, args...), stdinR, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	sc := bufio.NewScanner(stdoutR)
	if !sc.Scan() {
		t.Fatal("no ready line")
	}
	var err error
	if r.ready, err = ParseReady(sc.Bytes()); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	r.rpc = rpc.NewClient("k", "test", rpc.DialWithin(func(addr string, timeout time.Duration) (net.Conn, error) {
		return net.DialTimeout("tcp", addr, timeout)
	}))
	t.Cleanup(func() {
		r.rpc.Close()
		stdinW.Close()
	})
	return r
}

// control returns a client of the agent's control channel.
func (r *running) control() control.Client { return control.NewClient(r.rpc, r.ready.Addr) }

// waitExit waits for the command to end with status 0 after why.
func (r *running) waitExit(t *testing.T, why string) {
	t.Helper()
	select {
	case code := <-r.exited:
		if code != 0 {
			t.Fatalf("exit %d after %s", code, why)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent did not exit after %s", why)
	}
}

// The agent command prints its ready line, serves the program's
// operations and the control channel, and exits when stdin closes.
func TestAgentServesAndExitsWithItsRunner(t *testing.T) {
	a := runAgent(t, withOp(t), "agent", "--name", "a1", "--cookie", "k", "--watch-stdin")
	if a.ready.Name != "a1" || a.ready.PID != os.Getpid() {
		t.Fatalf("ready line %+v", a.ready)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var greeting string
	if err := a.rpc.Call(ctx, a.ready.Addr, "op.call", map[string]any{"op": "greet", "params": map[string]any{"who": "you"}}, &greeting); err != nil || greeting != "hello you from a1" {
		t.Fatalf("greet: %q %v", greeting, err)
	}
	if pid, err := a.control().PID(ctx); err != nil || pid != os.Getpid() {
		t.Fatalf("pid over the control channel: %d %v", pid, err)
	}
	a.stdin.Close()
	a.waitExit(t, "its stdin closed")
}

// An agent that the runner did not start (found with cluster.attach) is
// ended by asking it over its control channel.
func TestAgentExitsWhenAsked(t *testing.T) {
	a := runAgent(t, withOp(t), "agent", "--name", "a1", "--cookie", "k")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.control().Exit(ctx); err != nil {
		t.Fatal(err)
	}
	a.waitExit(t, "being asked to exit")
}

// The command line a runner builds (Launch.Args) is the one the agent
// command parses: a node started with it runs the runner's profile.
func TestLaunchArgsAreTheAgentsFlags(t *testing.T) {
	prof := membership.LANProfile()
	prof.ClusterSize = 7
	args, err := Launch{Name: "n7", Cluster: "c9", Bind: "127.0.0.1:0", Profile: prof, Incarnation: 4, Cookie: "k"}.Args()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(CookieEnv, "k")
	a := runAgent(t, node.Builtin(), args...)
	if a.ready.Name != "n7" {
		t.Fatalf("ready line %+v", a.ready)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := a.control().GossipSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(membership.Settings(prof.MemberlistConfig("n7", nil)))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 20 || len(got) != len(want) {
		t.Fatalf("the agent reports %d settings, the runner's profile makes %d", len(got), len(want))
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s: the agent runs %v, the runner gave %v", k, got[k], v)
		}
	}
	a.stdin.Close() // --watch-stdin: the agent goes with its runner
	a.waitExit(t, "its stdin closed")
}

// Flags a node could not start with are usage errors (exit 2) that name
// the flag and say what is wrong, before anything binds.
func TestAgentRefusesABadNameOrBind(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "a b"}, `svc: agent: --name: node name "a b": ' ' at byte 1 is not allowed`},
		{[]string{"--name", "a1", "--bind", "127.0.0.1:99999"}, `svc: agent: --bind: port "99999" of 127.0.0.1:99999: want 0 (any free one) to 65535`},
		{[]string{"--name", "a1", "--bind", "localhost"}, `svc: agent: --bind: want host:port, such as 127.0.0.1:7946, got "localhost"`},
	} {
		var stderr bytes.Buffer
		code := run(node.Builtin(), append([]string{"svc", "agent", "--cookie", "k"}, tc.args...), strings.NewReader(""), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("agent %v: exit %d, %q; want exit 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
