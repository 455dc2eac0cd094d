package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// Attach returns a Cluster for agents already running elsewhere (started
// by hand with `clusterscript agent`, or a program built on the engine,
// on this host or others). It asks the first seed that answers for its
// members and their addresses; every member alive in that seed's view
// becomes a node, followed into the history h from now on (a history of
// the cluster's own when nil). The cluster cannot start nodes; killing or
// stopping one of its nodes asks that agent to exit over its control
// channel. StopFollowing lets go of it, leaving its agents running.
func Attach(ctx context.Context, name string, seeds []string, cookie string, h *history.Recorder) (*Cluster, error) {
	if len(seeds) == 0 {
		return nil, errors.New("attach: give at least one seed address (host:port of a running agent)")
	}
	if cookie == "" {
		return nil, errors.New("attach: the cookie must not be empty")
	}
	if name == "" {
		name = "attached"
	}
	c := newCluster(name, cookie, attachLauncher{}, h)
	cl := c.client(cookie)
	var errs []error
	for _, seed := range seeds {
		members, err := attachMembers(ctx, cl, seed)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range members {
			p := &attachedProcess{ctl: control.NewClient(cl, m.Addr)}
			pctx, cancel := context.WithTimeout(ctx, ControlTimeout)
			p.pid, _ = p.ctl.PID(pctx) // 0 when unknown
			cancel()
			c.nodes = append(c.nodes, &Node{
				c: c, name: m.Name, cookie: cookie, addr: m.Addr, status: Running, proc: p,
			})
		}
		c.Note(time.Now(), history.Record{Kind: history.KindClusterStart, Fields: map[string]any{
			"backend": string(Real), "nodes": nodeNames(c.nodes), "attached": true, "seed": seed,
		}})
		for _, n := range c.nodes {
			n.follow(ctx, n.proc)
		}
		return c, nil
	}
	cl.Close()
	return nil, fmt.Errorf("attach to %s: no seed answered: %w", strings.Join(seeds, ", "), errors.Join(errs...))
}

// attachMembers returns the alive members the seed sees, by name, with
// addresses. An agent that does not serve the member list yields only
// itself.
func attachMembers(ctx context.Context, cl *rpc.Client, seed string) ([]membership.Member, error) {
	ctx, cancel := context.WithTimeout(ctx, ControlTimeout)
	defer cancel()
	ctl := control.NewClient(cl, seed)
	view, err := ctl.View(ctx)
	if err != nil {
		if errors.Is(err, rpc.ErrCookieMismatch) {
			return nil, fmt.Errorf("seed %s: the cookie differs from the agent's: %w", seed, err)
		}
		return nil, fmt.Errorf("seed %s: %w", seed, err)
	}
	self := membership.Member{Name: view.Name, Addr: seed, Status: membership.StatusAlive}
	all, err := ctl.Members(ctx)
	if err != nil {
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

func (attachLauncher) Backend() Backend { return Real }

func (attachLauncher) Launch(_ context.Context, spec NodeSpec) (Process, error) {
	return nil, fmt.Errorf("node %s: an attached cluster cannot start nodes; start `clusterscript agent --join ADDR` on the host instead", spec.Name)
}

func (attachLauncher) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return dialTCP(ctx, addr)
}

func (attachLauncher) Close() {}

// attachedProcess is an agent this runner did not start: it ends it by
// asking over RPC.
type attachedProcess struct {
	ctl control.Client
	pid int
}

func (p *attachedProcess) Addr() string { return p.ctl.Addr() }
func (p *attachedProcess) PID() int     { return p.pid }

// Pause implements Process: an attached agent runs elsewhere and cannot
// be sent signals.
func (p *attachedProcess) Pause() error {
	return fmt.Errorf("pause %s: only nodes this runner started can be paused", p.Addr())
}

// Resume implements Process.
func (p *attachedProcess) Resume() error {
	return fmt.Errorf("resume %s: only nodes this runner started can be paused", p.Addr())
}

// Kill asks the agent to exit at once (it shuts down without a leave).
func (p *attachedProcess) Kill(ctx context.Context) error { return p.exit(ctx) }

// Exit asks an agent that has left to exit.
func (p *attachedProcess) Exit(ctx context.Context) error { return p.exit(ctx) }

func (p *attachedProcess) exit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ControlTimeout)
	defer cancel()
	if err := p.ctl.Exit(ctx); err != nil {
		return fmt.Errorf("ask %s to exit: %w", p.Addr(), err)
	}
	return nil
}
