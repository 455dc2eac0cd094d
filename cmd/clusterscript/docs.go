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
