// Command clusterscript runs Starlark scenarios against real and simulated
// clusters. It is a thin shell over the scenario, builtins, cluster and
// runtime packages.
package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args))
}

// run runs the CLI and returns the exit status: 0 success, 1 a case
// failed, 2 a usage, configuration or script error.
func run(args []string) int {
	app := &cli.App{
		Name:            "clusterscript",
		Usage:           "prove a cluster behaves: Starlark scenarios on real and simulated nodes",
		Version:         version,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			runCommand(),
			checkCommand(),
			replCommand(),
			agent.Command(node.Builtin()),
			opsCommand(),
			docsCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintln(c.App.Writer, "clusterscript", version)
					return nil
				},
			},
		},
		OnUsageError: usageError,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "clusterscript: unknown command %q (see clusterscript --help)\n", name)
			cli.OsExiter(2)
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	err := app.Run(permute(app, args))
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "clusterscript:", err)
	return 2
}

func usageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		flags := c.App.Flags
		if c.Command != nil {
			flags = c.Command.Flags
		}
		if s := nearestFlag(flags, strings.TrimLeft(name, "-")); s != "" {
			msg += ", did you mean " + s + "?"
		}
	}
	help := "clusterscript --help"
	if c.Command != nil && c.Command.Name != c.App.Name {
		help = "clusterscript " + c.Command.Name + " --help"
	}
	return cli.Exit(fmt.Sprintf("clusterscript: %s (see %s)", msg, help), 2)
}

// nearestFlag returns the flag whose name is spelt most like name, as
// "--backend", or "" when none is close enough to be a likely typo.
func nearestFlag(flags []cli.Flag, name string) string {
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	switch best := builtins.Nearest(name, names); {
	case best == "":
		return ""
	case len(best) == 1:
		return "-" + best
	default:
		return "--" + best
	}
}

// usage returns an exit-2 error.
func usage(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf("clusterscript: "+format, args...), 2)
}

// permute moves flags given after positional arguments in front of them
// (`run scenarios/ --backend real`), since urfave/cli stops at the first
// positional argument. "--" ends flag parsing as usual. A flag whose value
// may be left out (`--diff`, `--diff strict`) takes the next argument only
// when it is one of its values.
func permute(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if values, ok := optionalValues[name]; ok {
				v := values[0]
				if i+1 < len(rest) && slices.Contains(values, rest[i+1]) {
					i++
					v = rest[i]
				}
				flags[len(flags)-1] = a + "=" + v
				continue
			}
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}
