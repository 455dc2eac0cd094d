package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/builtins"
)

func docsCommand() *cli.Command {
	return &cli.Command{
		Name:  "docs",
		Usage: "print the Starlark API reference",
		Flags: []cli.Flag{agentFlag()},
		Action: func(c *cli.Context) error {
			ops, err := agentOps(c)
			if err != nil {
				return cli.Exit("clusterscript: "+err.Error(), 1)
			}
			kinds, err := agentKinds(c)
			if err != nil {
				return cli.Exit("clusterscript: "+err.Error(), 1)
			}
			fmt.Fprint(c.App.Writer, builtins.Reference(ops, kinds))
			return nil
		},
	}
}
