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
		Action: func(c *cli.Context) error {
			fmt.Fprint(c.App.Writer, builtins.Reference())
			return nil
		},
	}
}

func opsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ops",
		Usage: "list arsenal operations with their parameters, types, defaults, and results",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
		Action: func(c *cli.Context) error {
			return cli.Exit("clusterscript: ops: the arsenal operations are not built yet", 2)
		},
	}
}
