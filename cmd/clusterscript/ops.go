package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// agentFlag names a program built on the engine whose nodes a command is
// about, instead of clusterscript's own.
func agentFlag() cli.Flag {
	return &cli.StringFlag{Name: "agent", Usage: "the executable real nodes run: a program built on the engine (see docs/testing-your-own-service.md); its operations join the built-in ones"}
}

func opsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ops",
		Usage: "list arsenal operations with their parameters, types, defaults, and results",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
			&cli.BoolFlag{Name: agent.FlagKinds, Usage: "list the process kinds nodes spawn, with their state and messages, instead"},
			agentFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Bool(agent.FlagKinds) {
				kinds, err := agentKinds(c)
				if err != nil {
					return cli.Exit("clusterscript: "+err.Error(), 1)
				}
				return agent.WriteKinds(c.App.Writer, kinds, c.Bool("json"), ownKinds(kinds, c.String("agent")))
			}
			ops, err := agentOps(c)
			if err != nil {
				return cli.Exit("clusterscript: "+err.Error(), 1)
			}
			return agent.WriteOps(c.App.Writer, ops, c.Bool("json"), ownOps(ops, c.String("agent")))
		},
	}
}

// agentOps returns the operations of --agent's binary, or the built-in
// ones without it.
func agentOps(c *cli.Context) ([]arsenal.OpSpec, error) {
	bin := c.String("agent")
	if bin == "" {
		return node.Builtin().Ops(), nil
	}
	return cluster.AgentOps(context.Background(), bin)
}

// agentKinds returns the process kinds of --agent's binary, or the
// built-in ones without it. A binary built before programs listed their
// kinds lists none: the built-in ones stand in, with a warning on
// standard error.
func agentKinds(c *cli.Context) ([]process.KindDoc, error) {
	bin := c.String("agent")
	if bin == "" {
		return process.KindDocs(), nil
	}
	kinds, err := cluster.AgentKinds(context.Background(), bin)
	if err != nil {
		if _, opsErr := cluster.AgentOps(context.Background(), bin); opsErr == nil {
			fmt.Fprintf(c.App.ErrWriter, "clusterscript: warning: %v; showing the built-in kinds only\n", err)
			return process.KindDocs(), nil
		}
	}
	return kinds, err
}

// ownKinds marks the kinds that are not built-in as the binary's.
func ownKinds(kinds []process.KindDoc, bin string) map[string]string {
	own := map[string]string{}
	for _, k := range kinds {
		if !slices.ContainsFunc(process.KindDocs(), func(b process.KindDoc) bool { return b.Kind == k.Kind }) {
			own[k.Kind] = "from " + bin
		}
	}
	return own
}

// ownOps marks the operations that are not built-in as the binary's.
func ownOps(ops []arsenal.OpSpec, bin string) map[string]string {
	builtin := map[string]bool{}
	for _, op := range node.Builtin().Ops() {
		builtin[op.Name] = true
	}
	own := map[string]string{}
	for _, op := range ops {
		if !builtin[op.Name] {
			own[op.Name] = "from " + bin
		}
	}
	return own
}

// surfaceOps returns the operations scenarios see: with --agent, the
// binary's (nil: the built-in ones). A binary that cannot list them cannot
// be an agent either: the error names it and says why, and the command
// exits with code before running anything.
func surfaceOps(c *cli.Context, code int) ([]arsenal.OpSpec, error) {
	if c.String("agent") == "" {
		return nil, nil
	}
	ops, err := agentOps(c)
	if err != nil {
		return nil, cli.Exit("clusterscript: --agent: "+err.Error(), code)
	}
	return ops, nil
}
