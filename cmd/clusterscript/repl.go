package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/repl"
	"github.com/clusterscript/clusterscript/runtime/process"
)

func replCommand() *cli.Command {
	return &cli.Command{
		Name:  "repl",
		Usage: "interactive Starlark session with every builtin; line editing, history, completion",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "backend", Usage: "default backend for cluster.start: sim or real; without it, the configuration file's, else sim, or real when --agent names the nodes' binary"},
			&cli.IntFlag{Name: "nodes", Usage: "start a cluster of N nodes bound to c before the first prompt"},
			&cli.StringFlag{Name: "config", Usage: "YAML configuration (default ./" + defaultConfigFile + " when present)"},
			&cli.StringFlag{Name: "history", Value: repl.DefaultHistoryFile(), Usage: "history file (empty: no history)"},
			&cli.StringSliceFlag{Name: "var", Usage: "KEY=VALUE, available as vars[KEY] (repeatable)"},
			agentFlag(),
		}, hostsFlags()...),
		Action: replAction,
	}
}

func replAction(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	bs, err := backends(c, cfg)
	if err != nil {
		return err
	}
	if len(bs) != 1 {
		return usage("repl: --backend: want sim or real, got %q", c.String("backend"))
	}
	if n := c.Int("nodes"); n < 0 || n > cluster.MaxNodes {
		return usage("repl: --nodes: want 0 to %d, got %d", cluster.MaxNodes, n)
	}
	vars, err := parseVars(c.StringSlice("var"))
	if err != nil {
		return usage("%v", err)
	}
	ops, err := surfaceOps(c, 1)
	if err != nil {
		return err
	}
	var kinds []process.KindDoc
	if c.String("agent") != "" {
		if kinds, err = agentKinds(c); err != nil {
			return cli.Exit("clusterscript: --agent: "+err.Error(), 1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	fleet, err := openFleet(ctx, c, cfg)
	if err != nil {
		return err
	}
	defer closeFleet(c, fleet)
	st := settings(c, cfg, 0, fleet)
	st.Backend = bs[0]
	err = repl.Run(ctx, repl.Config{
		Settings:    st,
		Nodes:       c.Int("nodes"),
		Ops:         ops,
		Kinds:       kinds,
		HistoryFile: c.String("history"),
		Vars:        vars,
	})
	if err != nil {
		return cli.Exit("clusterscript: "+err.Error(), 1)
	}
	return nil
}
