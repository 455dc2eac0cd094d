package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/hosts"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// HostLauncher starts real nodes as agent processes on hosts reached over
// SSH: the same binary, command line and ready line as AgentLauncher,
// started in an SSH session on the node's host instead of as a child of
// the runner. Nodes are placed on the hosts in turn, and a restarted node
// comes back on its host.
//
// The session's shell reads the cookie from stdin (never a command line
// another user could read), starts the agent bound to the host's address
// with the session's stdin as its own, and waits for it. When the
// session ends, because the runner closed it or died, the agent reads
// end-of-input and exits, as a local agent does when the runner's pipe
// closes; a paused agent is first sent SIGCONT so that it can. Kill,
// pause and resume are signals sent by pid over the same connection.
type HostLauncher struct {
	// Hosts are where nodes go, in turn.
	Hosts []*hosts.Host
	// Binary is the agent executable on this machine; each host gets a
	// copy once per run (hosts.Host.Install).
	Binary string
	// Kernel puts the cluster's network faults into the hosts' kernels
	// (nftables, tc netem) instead of the nodes' transports.
	Kernel bool
	// Log, when set, receives the agents' stderr.
	Log io.Writer
	// ReadyTimeout bounds each agent's start-up (default 10s: an SSH
	// session costs round trips a local start does not).
	ReadyTimeout time.Duration

	once sync.Once
	id   string // tells this launcher's rules from another cluster's

	mu     sync.Mutex
	next   int
	placed map[string]*hosts.Host // by node
	dirs   map[*hosts.Host]map[string]bool
}

// Backend implements Launcher.
func (l *HostLauncher) Backend() Backend { return Real }

// Dial implements Launcher: agents on hosts are reached as any other.
func (l *HostLauncher) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return dialTCP(ctx, addr)
}

// Place implements placer: the nodes go on the hosts in turn, in the
// cluster's order (n1 on the first host), whatever order their launches
// run in.
func (l *HostLauncher) Place(nodes []string) {
	for _, n := range nodes {
		l.hostOf(n)
	}
}

// hostOf places a node: on its host when it ran before, else on the next
// host in turn.
func (l *HostLauncher) hostOf(node string) *hosts.Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.placed == nil {
		l.placed = map[string]*hosts.Host{}
	}
	if h, ok := l.placed[node]; ok {
		return h
	}
	h := l.Hosts[l.next%len(l.Hosts)]
	l.next++
	l.placed[node] = h
	return h
}

// Launch implements Launcher: it starts an agent on the node's host and
// waits for its ready line, until ctx ends (the agent is then killed).
func (l *HostLauncher) Launch(ctx context.Context, spec NodeSpec) (Process, error) {
	if len(l.Hosts) == 0 {
		return nil, &AgentError{Node: spec.Name, Err: errors.New("no hosts to place it on")}
	}
	if strings.ContainsAny(spec.Cookie, "\n\r") {
		// The session's shell reads the cookie as one line.
		return nil, &AgentError{Node: spec.Name, Err: errors.New("a cookie for nodes on hosts must be one line")}
	}
	h := l.hostOf(spec.Name)
	bin, err := h.Install(ctx, l.Binary)
	if err != nil {
		return nil, &AgentError{Node: spec.Name, Err: err}
	}
	if spec.DataDir != "" {
		l.mu.Lock()
		if l.dirs == nil {
			l.dirs = map[*hosts.Host]map[string]bool{}
		}
		if l.dirs[h] == nil {
			l.dirs[h] = map[string]bool{}
		}
		l.dirs[h][spec.DataDir] = true
		l.mu.Unlock()
	}
	p, err := l.launch(ctx, h, bin, spec, spec.Addr)
	if err != nil && spec.Addr != "" && ctx.Err() == nil {
		// The old port is taken: come back on a fresh one.
		p, err = l.launch(ctx, h, bin, spec, "")
	}
	return p, err
}

func (l *HostLauncher) launch(ctx context.Context, h *hosts.Host, bin string, spec NodeSpec, addr string) (Process, error) {
	bind := net.JoinHostPort(h.Addr(), "0")
	if addr != "" {
		bind = addr
	}
	launch := agent.Launch{Name: spec.Name, Cluster: spec.Cluster, Bind: bind, Profile: spec.Profile, Incarnation: spec.Incarnation, Cookie: spec.Cookie, MaxProcesses: spec.MaxProcesses, DataDir: spec.DataDir}
	args, err := launch.Args()
	if err != nil {
		return nil, err
	}
	stderr, errOut := agentStderr(l.Log, spec.Log)
	stdoutR, stdoutW := io.Pipe()
	s, err := h.Start(ctx, agentScript(bin, args, spec.DataDir), stdoutW, errOut)
	if err != nil {
		stdoutW.Close()
		return nil, &AgentError{Node: spec.Name, Err: err}
	}
	go func() { <-s.Exited(); stdoutW.Close() }()
	p := &hostProcess{host: h, s: s}
	if _, err := io.WriteString(s.Stdin(), spec.Cookie+"\n"); err != nil {
		s.Close()
		return nil, &AgentError{Node: spec.Name, Err: fmt.Errorf("host %s: send the cookie: %w", h, err)}
	}
	type started struct {
		pid   int
		ready agent.Ready
		err   error
	}
	up := make(chan started, 1)
	pidCh := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		var st started
		if sc.Scan() {
			st.pid, st.err = strconv.Atoi(strings.TrimPrefix(sc.Text(), "pid "))
			if st.err == nil {
				pidCh <- st.pid
			}
		}
		if st.err == nil && sc.Scan() {
			st.ready, st.err = agent.ParseReady(sc.Bytes())
			if st.err != nil {
				st.err = fmt.Errorf("%s printed %q instead of its ready line %s", l.Binary, truncate(sc.Text(), 200), notAgent)
			}
		} else if st.err != nil {
			st.err = fmt.Errorf("the session printed %q before the agent's pid (does the login shell's startup file print on stdout?)", truncate(sc.Text(), 200))
		} else if st.err == nil {
			st.err = errors.New("no ready line")
		}
		up <- st
		_, _ = io.Copy(io.Discard, stdoutR)
	}()
	timeout := l.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	stderrOf := stderr.tail
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	fail := func(err error) (Process, error) {
		select {
		case pid := <-pidCh:
			p.pid = pid
		default:
		}
		killCtx, cancel := context.WithTimeout(context.Background(), ControlTimeout)
		defer cancel()
		_ = p.kill(killCtx)
		return nil, &AgentError{Node: spec.Name, Err: fmt.Errorf("on host %s: %w", h, err)}
	}
	select {
	case st := <-up:
		if st.err != nil {
			select {
			case <-s.Exited():
				return fail(fmt.Errorf("%s exited (%s) before printing its ready line %s; %s", l.Binary, s.ExitStatus(), notAgent, stderrOf()))
			case <-time.After(time.Second):
				return fail(fmt.Errorf("%v; %s", st.err, stderrOf()))
			}
		}
		p.pid, p.addr = st.pid, st.ready.Addr
		return p, nil
	case <-timer.C:
		return fail(fmt.Errorf("%s printed no ready line within %s %s; %s", l.Binary, timeout, notAgent, stderrOf()))
	case <-ctx.Done():
		return fail(context.Cause(ctx))
	}
}

// agentScript is the shell script that runs an agent in a session: see
// HostLauncher. The agent's pid comes first on stdout, then its ready
// line; the session's exit status is the agent's. Background jobs get the
// session's stdin through fd 3, since a POSIX shell gives them /dev/null
// otherwise. The watcher kills an agent that has not ended 5s after the
// session's end (one hung before it watches its stdin).
func agentScript(bin string, args []string, dataDir string) string {
	var cmd strings.Builder
	cmd.WriteString(hosts.Quote(bin))
	for _, a := range args {
		cmd.WriteString(" " + hosts.Quote(a))
	}
	mkdir := ""
	if dataDir != "" {
		mkdir = "mkdir -p " + hosts.Quote(dataDir) + " || exit 1\n"
	}
	return `IFS= read -r c || exit 1
` + agent.CookieEnv + `=$c; export ` + agent.CookieEnv + `
` + mkdir + `{ sh -c 'echo "pid $$"; exec "$@"' agent ` + cmd.String() + ` <&3 3<&- & } 3<&0
a=$!
{ { cat; kill -CONT $a; sleep 5; kill -KILL $a; } <&3 3<&- >/dev/null 2>&1 & } 3<&0
w=$!
wait $a; s=$?
kill $w 2>/dev/null
exit $s`
}

// Close implements Launcher: it removes the cluster's kernel faults and
// its nodes' data directories from the hosts.
func (l *HostLauncher) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l.mu.Lock()
	used := map[*hosts.Host]bool{}
	for _, h := range l.placed {
		used[h] = true
	}
	dirs := l.dirs
	l.dirs = nil
	l.mu.Unlock()
	var wg sync.WaitGroup
	for h := range used {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Kernel {
				_ = h.SetRules(ctx, l.key(), hosts.Rules{})
			}
			if len(dirs[h]) > 0 {
				script := "rm -rf"
				for d := range dirs[h] {
					script += " " + hosts.Quote(d)
				}
				_, _ = h.Run(ctx, script, nil)
			}
		}()
	}
	wg.Wait()
}

// RemoveData implements remoteData: it empties a node's data directory on
// its host.
func (l *HostLauncher) RemoveData(ctx context.Context, node, dir string) error {
	l.mu.Lock()
	h := l.placed[node]
	l.mu.Unlock()
	if h == nil {
		return nil
	}
	_, err := h.Run(ctx, "rm -rf "+hosts.Quote(dir), nil)
	return err
}

// key names the launcher's cluster in its hosts' rules.
func (l *HostLauncher) key() string {
	l.once.Do(func() {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		l.id = hex.EncodeToString(b)
	})
	return l.id
}

// KernelFaults implements kernelFaulter: each node's faults become rules
// on its host, against its peers' hosts.
func (l *HostLauncher) KernelFaults(ctx context.Context, faults map[string]transport.Faults) error {
	l.mu.Lock()
	placed := make(map[string]*hosts.Host, len(l.placed))
	for n, h := range l.placed {
		placed[n] = h
	}
	l.mu.Unlock()
	rules := map[*hosts.Host]*hostRules{}
	for h := range hostSet(placed) {
		rules[h] = &hostRules{}
	}
	for node, f := range faults {
		h := placed[node]
		if h == nil {
			continue
		}
		r := rules[h]
		peerHost := func(p transport.Peer) (string, error) {
			a := p.Addr
			if ph := placed[p.Name]; ph != nil {
				a = ph.Addr()
			} else if host, _, err := net.SplitHostPort(a); err == nil {
				a = host
			}
			if a == h.Addr() {
				return "", fmt.Errorf("kernel faults cut hosts, not nodes, and %s and %s share host %s: place at most one node per host (no more nodes than hosts), or use faults=\"engine\"", node, p.Name, h)
			}
			return a, nil
		}
		for _, p := range f.Blocked {
			a, err := peerHost(p)
			if err != nil {
				return err
			}
			r.from.add(a)
			r.to.add(a)
		}
		for _, p := range f.BlockedTo {
			a, err := peerHost(p)
			if err != nil {
				return err
			}
			r.to.add(a)
		}
		for _, p := range f.BlockedFrom {
			a, err := peerHost(p)
			if err != nil {
				return err
			}
			r.from.add(a)
		}
		for _, lf := range f.Links {
			a, err := peerHost(lf.Peer)
			if err != nil {
				return err
			}
			if lf.Loss > 0 {
				if r.loss == nil {
					r.loss = map[string]float64{}
				}
				r.loss[a] = lf.Loss
			}
			if lf.Latency > 0 || lf.Jitter > 0 {
				if r.delay == nil {
					r.delay = map[string]hosts.Delay{}
				}
				r.delay[a] = hosts.Delay{Latency: lf.Latency, Jitter: lf.Jitter}
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(rules))
	for h, r := range rules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.SetRules(ctx, l.key(), hosts.Rules{DropFrom: r.from, DropTo: r.to, Loss: r.loss, Delay: r.delay})
		}()
	}
	wg.Wait()
	close(errs)
	// A case is reported unsupported only when that is all that went
	// wrong: any other failure is the error.
	var unsupported, other []error
	for err := range errs {
		var u *hosts.UnsupportedError
		switch {
		case err == nil:
		case errors.As(err, &u):
			unsupported = append(unsupported, err)
		default:
			other = append(other, err)
		}
	}
	if len(other) > 0 {
		return errors.Join(other...)
	}
	return errors.Join(unsupported...)
}

// CheckDelay implements kernelFaulter: the hosts of these nodes can delay
// packets in their kernels.
func (l *HostLauncher) CheckDelay(ctx context.Context, nodes ...string) error {
	for _, n := range nodes {
		l.mu.Lock()
		h := l.placed[n]
		l.mu.Unlock()
		if h == nil {
			continue
		}
		if err := h.CheckDelay(ctx); err != nil {
			return err
		}
	}
	return nil
}

// hostRules gathers one host's rules.
type hostRules struct {
	from, to addrList
	loss     map[string]float64
	delay    map[string]hosts.Delay
}

// addrList is a list of addresses without repeats.
type addrList []string

func (l *addrList) add(a string) {
	for _, x := range *l {
		if x == a {
			return
		}
	}
	*l = append(*l, a)
}

func hostSet(placed map[string]*hosts.Host) map[*hosts.Host]bool {
	out := map[*hosts.Host]bool{}
	for _, h := range placed {
		out[h] = true
	}
	return out
}

// hostProcess is an agent on a host.
type hostProcess struct {
	host *hosts.Host
	s    *hosts.Session
	pid  int
	addr string
}

func (p *hostProcess) Addr() string { return p.addr }

// PID is the agent's pid on its host.
func (p *hostProcess) PID() int { return p.pid }

// Exited implements Exiter.
func (p *hostProcess) Exited() <-chan struct{} { return p.s.Exited() }

// ExitStatus implements Exiter.
func (p *hostProcess) ExitStatus() string { return p.s.ExitStatus() }

// signal sends the agent a signal over SSH.
func (p *hostProcess) signal(ctx context.Context, sig string) error {
	if p.pid == 0 {
		return errors.New("its pid is not known yet")
	}
	_, err := p.host.Run(ctx, fmt.Sprintf("kill -%s %d", sig, p.pid), nil)
	return err
}

// kill ends the agent however it can: SIGKILL over SSH, and the session
// closed, which ends the agent even when the signal could not be sent.
func (p *hostProcess) kill(ctx context.Context) error {
	select {
	case <-p.s.Exited():
		return nil
	default:
	}
	err := p.signal(ctx, "KILL")
	if err != nil {
		p.s.Close()
	}
	select {
	case <-p.s.Exited():
		return nil
	case <-ctx.Done():
		p.s.Close()
		return fmt.Errorf("agent %d on %s killed, not yet gone: %w", p.pid, p.host, context.Cause(ctx))
	}
}

// Kill implements Process.
func (p *hostProcess) Kill(ctx context.Context) error { return p.kill(ctx) }

// Pause implements Process: SIGSTOP to the agent.
func (p *hostProcess) Pause() error {
	ctx, cancel := context.WithTimeout(context.Background(), ControlTimeout)
	defer cancel()
	if err := p.signal(ctx, "STOP"); err != nil {
		return fmt.Errorf("pause agent %d: %w", p.pid, err)
	}
	return nil
}

// Resume implements Process: SIGCONT to the agent.
func (p *hostProcess) Resume() error {
	ctx, cancel := context.WithTimeout(context.Background(), ControlTimeout)
	defer cancel()
	if err := p.signal(ctx, "CONT"); err != nil {
		return fmt.Errorf("resume agent %d: %w", p.pid, err)
	}
	return nil
}

// Exit implements Process: end the agent's input, which ends it, and
// wait; an agent still there when ctx ends, or after exitTimeout, is
// killed.
func (p *hostProcess) Exit(ctx context.Context) error {
	_ = p.s.CloseStdin()
	return awaitExit(ctx, p.s.Exited(), p.kill)
}
