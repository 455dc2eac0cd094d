package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// The control methods Attach uses, served by every engine node: the
// members a node knows with their addresses, and its OS pid.
const (
	membersMethod = "ctl.members"
	pidMethod     = "ctl.pid"
)

// Attach returns a Cluster for agents already running elsewhere (started
// by hand with `clusterscript agent`, or a program built on the engine,
// on this host or others). It asks the
// first seed that answers for its members and their addresses; every
// member alive in that seed's view becomes a node. The cluster cannot
// start nodes; killing or stopping one of its nodes asks that agent to
// exit over RPC ("ctl.exit").
func Attach(ctx context.Context, name string, seeds []string, cookie string) (*Cluster, error) {
	if len(seeds) == 0 {
		return nil, errors.New("attach: give at least one seed address (host:port of a running agent)")
	}
	if cookie == "" {
		return nil, errors.New("attach: the cookie must not be empty")
	}
	if name == "" {
		name = "attached"
	}
	c := &Cluster{
		name:     name,
		cookie:   cookie,
		launcher: attachLauncher{},
		blocks:   map[[2]string]bool{},
		links:    map[[2]string]transport.LinkFault{},
		clients:  map[string]*rpc.Client{},
	}
	cl := c.client(cookie)
	var errs []error
	for _, seed := range seeds {
		members, err := attachMembers(ctx, cl, seed)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range members {
			p := &attachedProcess{addr: m.Addr, client: cl}
			pctx, cancel := context.WithTimeout(ctx, ControlTimeout)
			_ = cl.Call(pctx, m.Addr, pidMethod, nil, &p.pid) // 0 when unknown
			cancel()
			c.nodes = append(c.nodes, &Node{
				c: c, name: m.Name, cookie: cookie, addr: m.Addr, status: Running, proc: p,
			})
		}
		return c, nil
	}
	cl.Close()
	return nil, fmt.Errorf("attach to %s: no seed answered: %w", strings.Join(seeds, ", "), errors.Join(errs...))
}

// attachMembers returns the alive members the seed sees, by name, with
// addresses. An agent without membersMethod yields only itself.
func attachMembers(ctx context.Context, cl *rpc.Client, seed string) ([]membership.Member, error) {
	ctx, cancel := context.WithTimeout(ctx, ControlTimeout)
	defer cancel()
	var view node.NodeView
	if err := cl.Call(ctx, seed, "ctl.view", nil, &view); err != nil {
		if errors.Is(err, rpc.ErrCookieMismatch) {
			return nil, fmt.Errorf("seed %s: the cookie differs from the agent's: %w", seed, err)
		}
		return nil, fmt.Errorf("seed %s: %w", seed, err)
	}
	self := membership.Member{Name: view.Name, Addr: seed, Status: membership.StatusAlive}
	var all []membership.Member
	if err := cl.Call(ctx, seed, membersMethod, nil, &all); err != nil {
		var rerr *errcode.Error
		if errors.As(err, &rerr) && rerr.Code == errcode.OperationNotFound {
			return []membership.Member{self}, nil
		}
		return nil, fmt.Errorf("seed %s: %w", seed, err)
	}
	alive := map[string]bool{}
	for _, name := range view.Members {
		alive[name] = true
	}
	out := []membership.Member{self}
	for _, m := range all {
		if m.Name != view.Name && alive[m.Name] && m.Addr != "" {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// attachLauncher backs an attached cluster: it dials agents over TCP and
// starts nothing.
type attachLauncher struct{}

func (attachLauncher) Backend() string { return "real" }

func (attachLauncher) Launch(spec NodeSpec) (Process, error) {
	return nil, fmt.Errorf("node %s: an attached cluster cannot start nodes; start `clusterscript agent --join ADDR` on the host instead", spec.Name)
}

func (attachLauncher) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}

func (attachLauncher) Close() {}

// attachedProcess is an agent this runner did not start: it ends it by
// asking over RPC.
type attachedProcess struct {
	addr   string
	pid    int
	client *rpc.Client
}

func (p *attachedProcess) Addr() string { return p.addr }
func (p *attachedProcess) PID() int     { return p.pid }

// Pause implements Process: an attached agent runs elsewhere and cannot
// be sent signals.
func (p *attachedProcess) Pause() error {
	return fmt.Errorf("pause %s: only nodes this runner started can be paused", p.addr)
}

// Resume implements Process.
func (p *attachedProcess) Resume() error {
	return fmt.Errorf("resume %s: only nodes this runner started can be paused", p.addr)
}

// Kill asks the agent to exit at once (it shuts down without a leave).
func (p *attachedProcess) Kill() error { return p.exit() }

// Exit asks an agent that has left to exit.
func (p *attachedProcess) Exit() error { return p.exit() }

func (p *attachedProcess) exit() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := p.client.Call(ctx, p.addr, "ctl.exit", nil, nil); err != nil {
		return fmt.Errorf("ask %s to exit: %w", p.addr, err)
	}
	return nil
}
