package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// CookieEnv is the environment variable that hands an agent its cookie, so
// that it never shows in a process listing.
const CookieEnv = "CLUSTERSCRIPT_COOKIE"

// Ready is the line an agent prints on stdout once it is listening.
type Ready struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
}

// AgentConfig configures one agent process.
type AgentConfig struct {
	Name    string
	Cluster string
	Cookie  string
	Bind    string
	Profile membership.Profile
	Join    []string
	// Incarnation numbers this start of the node; see node.Config.
	Incarnation uint64
	// WatchStdin makes the agent exit when its stdin closes: the runner
	// holds the other end, so the agent dies with it.
	WatchStdin bool
	Log        io.Writer
}

// RunAgent runs one real node until ctx ends, stdin closes (WatchStdin),
// or the runner asks it to leave. It prints a Ready line on out once the
// node is listening.
func RunAgent(ctx context.Context, cfg AgentConfig, in io.Reader, out io.Writer) error {
	nw, err := transport.ListenSocket(cfg.Bind)
	if err != nil {
		return err
	}
	n, err := node.Start(node.Config{
		Name:    cfg.Name,
		Cookie:  cfg.Cookie,
		Cluster: cfg.Cluster,
		Profile: cfg.Profile,
		Network: nw,
		Log:     cfg.Log,

		Incarnation: cfg.Incarnation,
	})
	if err != nil {
		nw.Close()
		return err
	}
	defer n.Shutdown()
	registerAttachMethods(n)
	exit := make(chan struct{})
	var exitOnce sync.Once
	n.Handle("ctl.exit", func(context.Context, json.RawMessage) (any, error) {
		// Answer first, then go: the reply travels on a stream the
		// shutdown would cut.
		time.AfterFunc(10*time.Millisecond, func() { exitOnce.Do(func() { close(exit) }) })
		return nil, nil
	})
	if err := json.NewEncoder(out).Encode(Ready{Name: cfg.Name, Addr: n.Addr(), PID: os.Getpid()}); err != nil {
		return fmt.Errorf("write ready line: %w", err)
	}
	if len(cfg.Join) > 0 {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.Join(jctx, cfg.Join)
		cancel()
		if err != nil {
			return err
		}
	}
	stdinClosed := make(chan struct{})
	if cfg.WatchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, in)
			close(stdinClosed)
		}()
	}
	select {
	case <-ctx.Done():
		// An interrupted agent leaves gracefully.
		lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return n.Leave(lctx)
	case <-stdinClosed:
	case <-exit:
	}
	return nil
}

// AgentLauncher starts real nodes as `clusterscript agent` processes on
// loopback.
type AgentLauncher struct {
	// Binary is the clusterscript executable.
	Binary string
	// Bind is the host agents bind to (default 127.0.0.1).
	Bind string
	// Log, when set, receives the agents' stderr.
	Log io.Writer
}

// Backend implements Launcher.
func (l *AgentLauncher) Backend() string { return "real" }

// Dial implements Launcher.
func (l *AgentLauncher) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}

// Close implements Launcher.
func (l *AgentLauncher) Close() {}

// readyTimeout bounds an agent's start-up.
const readyTimeout = 10 * time.Second

// Launch implements Launcher: it starts an agent and waits for its ready
// line.
func (l *AgentLauncher) Launch(spec NodeSpec) (Process, error) {
	p, err := l.launch(spec, spec.Addr)
	if err != nil && spec.Addr != "" {
		// The old port is taken: come back on a fresh one.
		p, err = l.launch(spec, "")
	}
	return p, err
}

func (l *AgentLauncher) launch(spec NodeSpec, addr string) (Process, error) {
	host := l.Bind
	if host == "" {
		host = "127.0.0.1"
	}
	bind := net.JoinHostPort(host, "0")
	if addr != "" {
		bind = addr
	}
	prof, err := json.Marshal(spec.Profile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(l.Binary, "agent",
		"--name", spec.Name, "--cluster", spec.Cluster, "--bind", bind,
		"--profile-json", string(prof), "--watch-stdin",
		"--incarnation", strconv.FormatUint(spec.Incarnation, 10))
	cmd.Env = append(os.Environ(), CookieEnv+"="+spec.Cookie)
	cmd.SysProcAttr = agentSysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &lockedBuffer{b: &bytes.Buffer{}}
	cmd.Stderr = stderr
	if l.Log != nil {
		cmd.Stderr = io.MultiWriter(stderr, l.Log)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent %s: %w", spec.Name, err)
	}
	p := &agentProcess{cmd: cmd, stdin: stdin, exited: make(chan struct{}), stderr: stderr}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	ready := make(chan Ready, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			var r Ready
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Addr != "" {
				ready <- r
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case r := <-ready:
		p.addr = r.Addr
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("agent %s exited before it was ready: %v: %s", spec.Name, p.waitErr, bytes.TrimSpace([]byte(p.stderr.String())))
	case <-time.After(readyTimeout):
		_ = p.Kill()
		return nil, fmt.Errorf("agent %s not ready after %s", spec.Name, readyTimeout)
	}
}

type agentProcess struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	addr    string
	exited  chan struct{}
	waitErr error
	stderr  *lockedBuffer
}

func (p *agentProcess) Addr() string { return p.addr }
func (p *agentProcess) PID() int     { return p.cmd.Process.Pid }

// Kill implements Process: SIGKILL to the agent's process group.
func (p *agentProcess) Kill() error {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	p.stdin.Close()
	return nil
}

// Exit implements Process: close stdin, which ends the agent, and wait; a
// stuck agent is killed.
func (p *agentProcess) Exit() error {
	p.stdin.Close()
	select {
	case <-p.exited:
		return nil
	case <-time.After(3 * time.Second):
		return errors.Join(errors.New("agent did not exit; killed it"), p.Kill())
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and other readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		b.b.Reset()
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
