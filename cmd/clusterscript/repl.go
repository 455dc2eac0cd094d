package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/repl"
)

func replCommand() *cli.Command {
	return &cli.Command{
		Name:  "repl",
		Usage: "interactive Starlark session with every builtin; line editing, history, completion",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "backend", Value: "sim", Usage: "default backend for cluster.start: sim or real"},
			&cli.IntFlag{Name: "nodes", Usage: "start a cluster of N nodes bound to c before the first prompt"},
			&cli.StringFlag{Name: "config", Usage: "YAML configuration (default ./" + defaultConfigFile + " when present)"},
			&cli.StringFlag{Name: "history", Value: repl.DefaultHistoryFile(), Usage: "history file (empty: no history)"},
			&cli.StringSliceFlag{Name: "var", Usage: "KEY=VALUE, available as vars[KEY] (repeatable)"},
			agentFlag(),
		},
		Action: replAction,
	}
}

func replAction(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	backend := c.String("backend")
	if !c.IsSet("backend") && cfg.Run.Backend != "" {
		backend = cfg.Run.Backend
	}
	agentBin := c.String("agent")
	if agentBin != "" && !c.IsSet("backend") {
		backend = "real"
	}
	if backend != "sim" && backend != "real" {
		return usage("repl: --backend: want sim or real, got %q", backend)
	}
	if agentBin != "" && backend == "sim" {
		return usage("repl: --agent %s runs real nodes; use --backend real (simulated nodes run clusterscript's own kinds and operations)", agentBin)
	}
	if n := c.Int("nodes"); n < 0 || n > 2000 {
		return usage("repl: --nodes: want 0 to 2000, got %d", n)
	}
	vars, err := parseVars(c.StringSlice("var"))
	if err != nil {
		return usage("%v", err)
	}
	binary, err := os.Executable()
	if err != nil {
		return usage("cannot find my own executable for real nodes: %v", err)
	}
	if agentBin != "" {
		binary = agentBin
	}
	ops, err := surfaceOps(c, 1)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err = repl.Run(ctx, repl.Config{
		Backend:     backend,
		Nodes:       c.Int("nodes"),
		Binary:      binary,
		Ops:         ops,
		HistoryFile: c.String("history"),
		Profiles:    cfg.Profiles,
		Topologies:  cfg.Topologies,
		Vars:        vars,
	})
	if err != nil {
		return cli.Exit("clusterscript: "+err.Error(), 1)
	}
	return nil
}
