package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
)

func opsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ops",
		Usage: "list arsenal operations with their parameters, types, defaults, and results",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
		Action: func(c *cli.Context) error {
			ops := node.Operations()
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(ops)
			}
			for i, op := range ops {
				if i > 0 {
					fmt.Fprintln(c.App.Writer)
				}
				writeOp(c.App.Writer, op)
			}
			return nil
		},
	}
}

func writeOp(w io.Writer, op arsenal.OpSpec) {
	fmt.Fprintf(w, "%s — %s\n", op.Name, op.Summary)
	if len(op.Params) > 0 {
		fmt.Fprintln(w, "  parameters:")
	}
	for _, p := range op.Params {
		var notes []string
		switch {
		case p.Required:
			notes = append(notes, "required")
		default:
			def, _ := json.Marshal(p.Default)
			notes = append(notes, "default "+string(def))
		}
		if p.Min != nil || p.Max != nil {
			notes = append(notes, fmt.Sprintf("range %v..%v", orDots(p.Min), orDots(p.Max)))
		}
		if len(p.Allowed) > 0 {
			notes = append(notes, "one of "+strings.Join(p.Allowed, ", "))
		}
		fmt.Fprintf(w, "    %-18s %-9s %s. %s\n", p.Name, p.Type, strings.Join(notes, "; "), p.Doc)
	}
	if len(op.Results) > 0 {
		fmt.Fprintln(w, "  results:")
	}
	for _, r := range op.Results {
		fmt.Fprintf(w, "    %-26s %-8s %s\n", r.Name, r.Type, r.Doc)
	}
}

func orDots(v any) any {
	if v == nil {
		return ""
	}
	return v
}
