package main

import (
	"cmp"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/config"
)

// backends returns the backends a command's clusters default to: --backend,
// else --agent's (an agent runs real nodes), else the configuration
// file's, else sim. An agent with the sim backend is a usage error.
func backends(c *cli.Context, cfg *config.Config) ([]cluster.Backend, error) {
	agentBin := c.String("agent")
	var asked []cluster.Backend
	switch {
	case c.IsSet("backend"):
		bs, err := cluster.ParseBackends(c.String("backend"))
		if err != nil {
			return nil, usage("--backend: %v", err)
		}
		asked = bs
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
// configuration file; the backend is each run's.
func settings(c *cli.Context, cfg *config.Config, seed int64) cluster.Settings {
	return cluster.Settings{
		Agent:      c.String("agent"),
		Seed:       seed,
		Profiles:   cfg.Profiles,
		Topologies: cfg.Topologies,
	}
}
