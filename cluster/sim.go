package cluster

import (
	"context"
	"net"

	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/sim"
)

// SimLauncher starts simulated nodes: engine nodes in this process on one
// in-memory network per cluster.
type SimLauncher struct {
	nw  *sim.Network
	reg *node.Registry
}

// NewSimLauncher returns a launcher with a fresh network whose nodes run
// reg (node.Builtin() when nil).
func NewSimLauncher(reg *node.Registry) *SimLauncher {
	return &SimLauncher{nw: sim.New(), reg: reg}
}

// Backend implements Launcher.
func (l *SimLauncher) Backend() Backend { return Sim }

// Launch implements Launcher. Starting an in-process node does not wait
// on anything outside it.
func (l *SimLauncher) Launch(_ context.Context, spec NodeSpec) (Process, error) {
	ep, err := l.nw.Endpoint(spec.Addr)
	if err != nil && spec.Addr != "" {
		ep, err = l.nw.Endpoint("")
	}
	if err != nil {
		return nil, err
	}
	n, err := node.Start(node.Config{
		Name:        spec.Name,
		Cookie:      spec.Cookie,
		Cluster:     spec.Cluster,
		Profile:     spec.Profile,
		Network:     ep,
		Simulated:   true,
		Log:         spec.Log,
		Incarnation: spec.Incarnation,
		Registry:    l.reg,
		Limits:      process.Limits{Processes: spec.MaxProcesses},
		DataDir:     spec.DataDir,
	})
	if err != nil {
		ep.Close()
		return nil, err
	}
	return simProcess{n}, nil
}

// Dial implements Launcher.
func (l *SimLauncher) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return rpc.DialWithin(l.nw.Dial)(ctx, addr)
}

// Close implements Launcher.
func (l *SimLauncher) Close() {}

type simProcess struct{ n *node.Node }

func (p simProcess) Addr() string               { return p.n.Addr() }
func (p simProcess) PID() int                   { return 0 }
func (p simProcess) Kill(context.Context) error { p.n.Shutdown(); return nil }
func (p simProcess) Exit(context.Context) error { p.n.Shutdown(); return nil }

// Pause freezes the node's traffic (node.Node.Pause): the closest an
// in-process node comes to SIGSTOP.
func (p simProcess) Pause() error { p.n.Pause(); return nil }

// Resume thaws it.
func (p simProcess) Resume() error { p.n.Resume(); return nil }
