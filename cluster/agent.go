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
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// AgentError is one node's agent that did not start.
type AgentError struct {
	Node string
	Err  error
}

func (e *AgentError) Error() string { return "agent " + e.Node + ": " + e.Err.Error() }

// Unwrap returns why it did not start.
func (e *AgentError) Unwrap() error { return e.Err }

// AgentLauncher starts real nodes as agent processes on loopback: BINARY
// with the command line, environment and ready line of agent.Launch.
// BINARY is clusterscript itself, or a program built on the engine whose
// main hands control to the agent entry point (package agent), which
// answers the same command.
type AgentLauncher struct {
	// Binary is the executable.
	Binary string
	// Bind is the host agents bind to (default 127.0.0.1).
	Bind string
	// Log, when set, receives the agents' stderr.
	Log io.Writer
	// ReadyTimeout bounds each agent's start-up: a binary that prints no
	// ready line within it fails the start (default 5s).
	ReadyTimeout time.Duration
}

// Backend implements Launcher.
func (l *AgentLauncher) Backend() Backend { return Real }

// Dial implements Launcher.
func (l *AgentLauncher) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return dialTCP(ctx, addr)
}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// Close implements Launcher.
func (l *AgentLauncher) Close() {}

// defaultReadyTimeout bounds an agent's start-up unless the launcher says
// otherwise.
const defaultReadyTimeout = 5 * time.Second

// notAgent is the likely cause when a binary does not answer as an agent.
const notAgent = "(is it an agent? its main must hand control to the agent entry point, agent.Main)"

// checkAgentBinary returns the executable path for binary, or an error
// that names it and says what is wrong, before anything is started.
func checkAgentBinary(binary string) (string, error) {
	if binary == "" {
		return "", errors.New("agent binary: no path given")
	}
	if !strings.ContainsRune(binary, filepath.Separator) {
		path, err := exec.LookPath(binary)
		if err != nil {
			return "", fmt.Errorf("agent binary %s: not found in $PATH (give a path such as ./%s)", binary, binary)
		}
		return path, nil
	}
	info, err := os.Stat(binary)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("agent binary %s: no such file", binary)
	case err != nil:
		return "", fmt.Errorf("agent binary %s: %w", binary, err)
	case info.IsDir():
		return "", fmt.Errorf("agent binary %s: is a directory, not an executable", binary)
	case info.Mode()&0o111 == 0:
		return "", fmt.Errorf("agent binary %s: is not executable (mode %s)", binary, info.Mode().Perm())
	}
	return binary, nil
}

// Launch implements Launcher: it starts an agent and waits for its ready
// line, until ctx ends (the agent is then killed).
func (l *AgentLauncher) Launch(ctx context.Context, spec NodeSpec) (Process, error) {
	p, err := l.launch(ctx, spec, spec.Addr)
	if err != nil && spec.Addr != "" && ctx.Err() == nil {
		// The old port is taken: come back on a fresh one.
		p, err = l.launch(ctx, spec, "")
	}
	return p, err
}

func (l *AgentLauncher) launch(ctx context.Context, spec NodeSpec, addr string) (Process, error) {
	binary, err := checkAgentBinary(l.Binary)
	if err != nil {
		return nil, err
	}
	host := l.Bind
	if host == "" {
		host = "127.0.0.1"
	}
	bind := net.JoinHostPort(host, "0")
	if addr != "" {
		bind = addr
	}
	launch := agent.Launch{Name: spec.Name, Cluster: spec.Cluster, Bind: bind, Profile: spec.Profile, Incarnation: spec.Incarnation, Cookie: spec.Cookie, MaxProcesses: spec.MaxProcesses, DataDir: spec.DataDir}
	args, err := launch.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), launch.Env()...)
	cmd.SysProcAttr = agentSysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, errOut := agentStderr(l.Log, spec.Log)
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		return nil, &AgentError{Node: spec.Name, Err: fmt.Errorf("start %s: %w", binary, err)}
	}
	p := &agentProcess{cmd: cmd, stdin: stdin, exited: make(chan struct{}), stderr: stderr}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	ready := make(chan agent.Ready, 1)
	bad := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			if r, err := agent.ParseReady(sc.Bytes()); err == nil {
				ready <- r
			} else {
				bad <- sc.Text()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	readyTimeout := l.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = defaultReadyTimeout
	}
	stderrOf := p.stderr.tail
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case r := <-ready:
		p.addr = r.Addr
		return p, nil
	case line := <-bad:
		_ = p.Kill(context.Background())
		return nil, &AgentError{Node: spec.Name, Err: fmt.Errorf("%s printed %q instead of its ready line %s; %s", binary, truncate(line, 200), notAgent, stderrOf())}
	case <-p.exited:
		return nil, &AgentError{Node: spec.Name, Err: fmt.Errorf("%s exited (%s) before printing its ready line %s; %s", binary, p.cmd.ProcessState, notAgent, stderrOf())}
	case <-timer.C:
		_ = p.Kill(context.Background())
		return nil, &AgentError{Node: spec.Name, Err: fmt.Errorf("%s printed no ready line within %s %s; %s", binary, readyTimeout, notAgent, stderrOf())}
	case <-ctx.Done():
		_ = p.Kill(context.Background())
		return nil, &AgentError{Node: spec.Name, Err: context.Cause(ctx)}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
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

// Exited implements Exiter.
func (p *agentProcess) Exited() <-chan struct{} { return p.exited }

// ExitStatus implements Exiter.
func (p *agentProcess) ExitStatus() string {
	<-p.exited
	return p.cmd.ProcessState.String()
}

// Kill implements Process: SIGKILL to the agent's process group, then a
// wait for it to be gone (the kernel does not take long).
func (p *agentProcess) Kill(ctx context.Context) error {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	defer p.stdin.Close()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent %d killed, not yet gone: %w", p.cmd.Process.Pid, context.Cause(ctx))
	}
}

// Pause implements Process: SIGSTOP to the agent. The kernel still
// queues what peers send it; it answers nothing until Resume.
func (p *agentProcess) Pause() error {
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause agent %d: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

// Resume implements Process: SIGCONT to the agent.
func (p *agentProcess) Resume() error {
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("resume agent %d: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

// Exit implements Process: close stdin, which ends the agent, and wait; an
// agent still there when ctx ends, or after exitTimeout, is killed.
func (p *agentProcess) Exit(ctx context.Context) error {
	p.stdin.Close()
	return awaitExit(ctx, p.exited, p.Kill)
}

// awaitExit waits for an agent whose input has ended to exit; one still
// there when ctx ends, or after exitTimeout, is killed.
func awaitExit(ctx context.Context, exited <-chan struct{}, kill func(context.Context) error) error {
	t := time.NewTimer(exitTimeout)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return kill(context.WithoutCancel(ctx))
	case <-t.C:
		return errors.Join(errors.New("agent did not exit; killed it"), kill(context.WithoutCancel(ctx)))
	}
}

// exitTimeout bounds how long an agent whose stdin closed has to exit.
const exitTimeout = 3 * time.Second

// agentStderr returns where an agent's stderr goes: a buffer of its
// last lines, for the error when it does not start, and the logs.
func agentStderr(logs ...io.Writer) (*lockedBuffer, io.Writer) {
	buf := &lockedBuffer{b: &bytes.Buffer{}}
	out := []io.Writer{buf}
	for _, w := range logs {
		if w != nil {
			out = append(out, w)
		}
	}
	return buf, io.MultiWriter(out...)
}

// tail is the end of what the agent wrote on stderr, for an error: its
// error comes last, after its log.
func (b *lockedBuffer) tail() string {
	if s := lastLines(b.String(), 10); s != "" {
		return "the end of its stderr:\n" + s
	}
	return "it wrote nothing on stderr"
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

// opsTimeout bounds `BINARY ops --json`, which only starts the program and
// prints.
const opsTimeout = 3 * time.Second

// AgentOps returns the operations an agent binary serves, as it lists them
// with `BINARY ops --json` (the built-in ones and the program's own), so
// that a runner can offer them before any node runs: arsenal.OP, describe,
// completion. The error names the binary and shows its stderr.
func AgentOps(ctx context.Context, binary string) ([]arsenal.OpSpec, error) {
	var ops []arsenal.OpSpec
	err := agentList(ctx, binary, "its operations", &ops, func() bool { return len(ops) > 0 }, "--json")
	return ops, err
}

// AgentKinds returns the process kinds an agent binary's nodes spawn,
// with their state and messages, as `BINARY ops --kinds --json` lists
// them: the built-in ones and the program's own, for the reference.
func AgentKinds(ctx context.Context, binary string) ([]process.KindDoc, error) {
	var kinds []process.KindDoc
	err := agentList(ctx, binary, "its process kinds", &kinds, func() bool { return len(kinds) > 0 }, "--"+agent.FlagKinds, "--json")
	return kinds, err
}

// agentList runs `BINARY ops ARGS...` and decodes its JSON (what, for the
// error) into v; ok says whether what it decoded is a real answer.
func agentList(ctx context.Context, binary, what string, v any, ok func() bool, args ...string) error {
	path, err := checkAgentBinary(binary)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{agent.OpsCommandName}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if runErr == nil {
		if err := json.Unmarshal(stdout.Bytes(), v); err == nil && ok() {
			return nil
		}
	}
	failed := "did not print " + what + " as JSON"
	switch {
	case ctx.Err() != nil:
		failed = fmt.Sprintf("did not finish within %s", opsTimeout)
	case runErr != nil:
		failed = "failed: " + runErr.Error()
	}
	detail := "it wrote nothing on stderr"
	if s := strings.TrimSpace(stderr.String()); s != "" {
		detail = "its stderr:\n" + truncate(s, 2000)
	}
	return fmt.Errorf("agent binary %s: `%s %s %s` %s %s; %s", binary, filepath.Base(path), agent.OpsCommandName, strings.Join(args, " "), failed, notAgent, detail)
}

// lastLines returns the last n lines of s: an agent's error comes after
// its log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
