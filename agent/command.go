package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Command is the `agent` command over reg: its flags are what the runner
// passes (AgentLauncher) and what a person starting a node by hand needs.
// clusterscript's own `agent` command is this one over node.Builtin().
func Command(reg *node.Registry) *cli.Command {
	return &cli.Command{
		Name:  CommandName,
		Usage: "run one real node (started by the runner, or by hand on any host to form a cluster)",
		Description: "The cookie comes from $" + CookieEnv + " (or --cookie). Once listening the agent prints\n" +
			`one JSON line {"name", "addr", "pid"} on stdout. Start agents on several hosts with --bind on a` + "\n" +
			"reachable address and --join pointing at any running agent to span machines.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: FlagName, Usage: "node name (default: the host name)"},
			&cli.StringFlag{Name: FlagCluster, Value: "cluster", Usage: "cluster name, for reports"},
			&cli.StringFlag{Name: FlagBind, Value: "127.0.0.1:0", Usage: "host:port for gossip and RPC (UDP and TCP); loopback unless told otherwise"},
			&cli.StringFlag{Name: FlagCookie, Usage: "shared secret (prefer $" + CookieEnv + ": argv is visible to other users)"},
			&cli.StringFlag{Name: FlagProfile, Value: membership.DefaultProfile, Usage: "gossip profile: " + strings.Join(membership.ProfileNames(), ", ")},
			&cli.StringFlag{Name: FlagProfileJSON, Hidden: true, Usage: "the full gossip profile as JSON (set by the runner)"},
			&cli.StringSliceFlag{Name: FlagJoin, Usage: "address of a running node to join (repeatable)"},
			&cli.BoolFlag{Name: FlagWatchStdin, Hidden: true, Usage: "exit when stdin closes (set by the runner)"},
			&cli.StringFlag{Name: FlagLogFile, Usage: "write memberlist's and the engine's log here (default: standard error)"},
			&cli.StringFlag{Name: FlagDataDir, Usage: "the node's data directory, which its processes keep state in across restarts (none by default)"},
			&cli.IntFlag{Name: FlagMaxProcs, Value: process.DefaultLimits().Processes, Usage: "processes the node runs at most; a spawn past it fails with resource_exhausted"},
			&cli.Uint64Flag{Name: FlagIncarnation, Usage: "this start's number, part of every pid; must grow with each restart under the same name (default: the start time in Unix seconds)"},
		},
		Action: func(c *cli.Context) error { return action(c, reg) },
	}
}

// usage returns an exit-2 error prefixed with the program's name.
func usage(c *cli.Context, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(c.App.Name+": "+format, args...), 2)
}

func action(c *cli.Context, reg *node.Registry) error {
	cookie := c.String(FlagCookie)
	if cookie == "" {
		cookie = os.Getenv(CookieEnv)
	}
	if cookie == "" {
		return usage(c, "agent: no cookie: set $%s or --%s", CookieEnv, FlagCookie)
	}
	name := c.String(FlagName)
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return usage(c, "agent: --"+FlagName+" is required: %v", err)
		}
		name = h
	}
	if err := node.CheckName(name); err != nil {
		return usage(c, "agent: --"+FlagName+": %v", err)
	}
	if err := checkBind(c.String(FlagBind)); err != nil {
		return usage(c, "agent: --"+FlagBind+": %v", err)
	}
	profile, err := membership.LookupProfile(c.String(FlagProfile))
	if err != nil {
		return usage(c, "agent: %v", err)
	}
	if pj := c.String(FlagProfileJSON); pj != "" {
		// The runner's whole profile, base included: a real node runs
		// what a simulated one given the same profile runs.
		if profile, err = membership.ProfileFromJSON([]byte(pj)); err != nil {
			return usage(c, "agent: --"+FlagProfileJSON+": %v", err)
		}
	}
	var logw io.Writer
	if f := c.String(FlagLogFile); f != "" {
		lf, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return usage(c, "agent: --"+FlagLogFile+": %v", err)
		}
		defer lf.Close()
		logw = lf
	}
	if n := c.Int(FlagMaxProcs); n < 1 {
		return usage(c, "agent: --%s: want at least 1, got %d", FlagMaxProcs, n)
	}
	incarnation := c.Uint64(FlagIncarnation)
	if incarnation == 0 {
		// Started by hand: a restart a second later still gets new pids.
		incarnation = uint64(time.Now().Unix())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = Run(ctx, Config{
		Name:       name,
		Cluster:    c.String(FlagCluster),
		Cookie:     cookie,
		Bind:       c.String(FlagBind),
		Profile:    profile,
		Join:       c.StringSlice(FlagJoin),
		WatchStdin: c.Bool(FlagWatchStdin),
		Log:        logw,
		Registry:   reg,
		Limits:     process.Limits{Processes: c.Int(FlagMaxProcs)},
		DataDir:    c.String(FlagDataDir),

		Incarnation: incarnation,
	}, c.App.Reader, c.App.Writer)
	if err != nil {
		return cli.Exit(fmt.Sprintf("agent %s: %v", name, err), 1)
	}
	return nil
}

// OpsCommand is the `ops` command over reg: it lists the operations the
// program's nodes serve, or with --kinds the process kinds they spawn.
// With --json it prints what cluster.AgentOps (cluster.AgentKinds) reads,
// the same JSON `clusterscript ops --json` (--kinds --json) prints.
func OpsCommand(reg *node.Registry) *cli.Command {
	return &cli.Command{
		Name:  OpsCommandName,
		Usage: "list arsenal operations with their parameters, types, defaults, and results (--kinds: the process kinds)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
			&cli.BoolFlag{Name: FlagKinds, Usage: "list the process kinds nodes spawn, with their state and messages, instead"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool(FlagKinds) {
				return WriteKinds(c.App.Writer, reg.KindDocs(), c.Bool("json"), nil)
			}
			return WriteOps(c.App.Writer, reg.Ops(), c.Bool("json"), nil)
		},
	}
}

// FlagKinds makes the ops command list process kinds.
const FlagKinds = "kinds"

// WriteKinds prints kinds for people, or as indented JSON. In the text
// form a kind named in own is marked as the program's.
func WriteKinds(w io.Writer, kinds []process.KindDoc, asJSON bool, own map[string]string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(kinds)
	}
	for i, k := range kinds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		from := ""
		if own[k.Kind] != "" {
			from = " [" + own[k.Kind] + "]"
		}
		fmt.Fprintf(w, "%s (%s)%s\n  state: %s\n", k.Kind, k.Type, from, k.State)
		for _, m := range k.Messages {
			fmt.Fprintf(w, "  %s -> %s\n", m.Message, m.Reply)
		}
	}
	return nil
}

// WriteOps prints ops for people, or as indented JSON. In the text form an
// operation named in own is marked as the program's, set apart from the
// built-in ones.
func WriteOps(w io.Writer, ops []arsenal.OpSpec, asJSON bool, own map[string]string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ops)
	}
	for i, op := range ops {
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeOp(w, op, own[op.Name])
	}
	return nil
}

func writeOp(w io.Writer, op arsenal.OpSpec, from string) {
	if from != "" {
		from = " [" + from + "]"
	}
	fmt.Fprintf(w, "%s%s — %s\n", op.Name, from, op.Summary)
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
		if p.Empty {
			notes = append(notes, `may be ""`)
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

// checkBind reports what is wrong with a --bind address, before anything
// is started: it is host:port, the port 0 (any free one) to 65535.
func checkBind(bind string) error {
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("want host:port, such as 127.0.0.1:7946, got %q", bind)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q of %s: want 0 (any free one) to 65535", port, bind)
	}
	return nil
}
