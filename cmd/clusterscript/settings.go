package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/config"
	"github.com/clusterscript/clusterscript/hosts"
)

// backends returns the backends a command's clusters default to: --backend,
// else --agent's (an agent runs real nodes), else the configuration
// file's, else sim. An agent with the sim backend is a usage error.
func backends(c *cli.Context, cfg *config.Config) ([]cluster.Backend, error) {
	agentBin := c.String("agent")
	var asked []cluster.Backend
	switch {
	case c.IsSet("backend") && c.String("hosts") != "" && c.String("backend") == string(cluster.Sim):
		return nil, usage("--hosts places real nodes, but --backend is sim")
	case c.IsSet("backend"):
		bs, err := cluster.ParseBackends(c.String("backend"))
		if err != nil {
			return nil, usage("--backend: %v", err)
		}
		asked = bs
	case c.String("hosts") != "":
		// Hosts, like an agent, mean real nodes.
		asked = []cluster.Backend{cluster.Real}
	case agentBin == "":
		asked = cfg.Run.Backends
	}
	if len(asked) == 0 {
		asked = []cluster.Backend{""}
	}
	var out []cluster.Backend
	for _, b := range asked {
		b, err := cluster.BackendFor(b, agentBin)
		if err != nil {
			return nil, usage("--%v", err)
		}
		out = append(out, cmp.Or(b, cluster.Sim))
	}
	return out, nil
}

// settings are the defaults of cluster.start from the command line and the
// configuration file; the backend is each run's. fleet reaches the
// file's inventories (nil when it has none).
func settings(c *cli.Context, cfg *config.Config, seed int64, fleet *hosts.Fleet) cluster.Settings {
	return cluster.Settings{
		Agent:      c.String("agent"),
		Seed:       seed,
		Profiles:   cfg.Profiles,
		Topologies: cfg.Topologies,
		Hosts:      c.String("hosts"),
		Faults:     c.String("faults"),
		Fleet:      fleet,
	}
}

// hostsFlags are run's and repl's flags for nodes on other machines.
func hostsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "hosts", Usage: "place real nodes on the hosts of this inventory (clusterscript.yaml's hosts:), started over SSH; implies --backend real"},
		&cli.StringFlag{Name: "faults", Value: cluster.FaultsEngine, Usage: "where network faults go: engine (each node's transport) or kernel (nftables and tc netem on the nodes' hosts; needs --hosts and root there)"},
	}
}

// openFleet returns the run's fleet over the configuration's inventories
// (nil when it has none) and, with --hosts, connects to that inventory's
// hosts and copies the agent binary to them before any case runs, so
// that an unreachable host, a refused key or a missing tool is an error
// naming the host up front.
func openFleet(ctx context.Context, c *cli.Context, cfg *config.Config) (*hosts.Fleet, error) {
	name, faults := c.String("hosts"), c.String("faults")
	switch faults {
	case cluster.FaultsEngine:
	case cluster.FaultsKernel:
		if name == "" {
			return nil, usage("--faults kernel needs --hosts: kernel faults are rules in the kernels of the nodes' hosts")
		}
	default:
		return nil, usage("--faults: want engine or kernel, got %q", faults)
	}
	if len(cfg.Hosts) == 0 {
		if name != "" {
			return nil, usage("--hosts %s: no inventory is defined (hosts come from the configuration file's hosts: section; see docs/hosts.md)", name)
		}
		return nil, nil
	}
	fleet := hosts.NewFleet(hosts.NewRunName(), cfg.Hosts, c.App.ErrWriter)
	if name == "" {
		return fleet, nil
	}
	if _, ok := cfg.Hosts[name]; !ok {
		return nil, usage("--hosts %s: no such inventory (defined: %s)", name, strings.Join(fleet.Inventories(), ", "))
	}
	bin := c.String("agent")
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("--hosts: this program's executable, to copy to the hosts: %w", err)
		}
		bin = exe
	}
	fail := func(err error) (*hosts.Fleet, error) {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = fleet.Close(closeCtx)
		return nil, cli.Exit("clusterscript: "+err.Error(), 2)
	}
	hs, err := fleet.Hosts(ctx, name, faults == cluster.FaultsKernel)
	if err != nil {
		return fail(err)
	}
	errs := make([]error, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.Install(ctx, bin)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return fleet, nil
}

// closeFleet removes what the run left on its hosts.
func closeFleet(c *cli.Context, fleet *hosts.Fleet) {
	if fleet == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fleet.Close(ctx); err != nil {
		fmt.Fprintln(c.App.ErrWriter, "clusterscript: cleaning up the hosts:", err)
	}
}
