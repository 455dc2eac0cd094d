// Package agent is the entry point of a real node: one engine node in its
// own OS process, as `clusterscript agent` runs it and as a program built
// on the engine runs its own. A program's main registers its kinds and
// operations and hands control over:
//
//	func main() {
//		reg := node.Builtin()
//		// reg.AddKind(...), reg.AddOp(...), reg.AddBootProcess(...)
//		os.Exit(agent.Main(reg))
//	}
//
// The binary then answers what the runner asks of any agent:
//
//	BINARY agent [flags]   run one node: bind, print the ready line, serve the
//	                       authenticated control channel and the fault layer,
//	                       and exit with the runner (stdin watch, parent-death
//	                       signal) or when asked to (ctl.exit)
//	BINARY ops [--json]    list the operations it serves, the program's own
//	                       with the built-in ones
//
// so `clusterscript run --agent BINARY`, `cluster.start(agent=BINARY)`, an
// `agent:` in a topology and `clusterscript ops --agent BINARY` treat it
// exactly like clusterscript itself. The same agent code serves both: this
// package is all of `clusterscript agent`.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Config configures one agent.
type Config struct {
	// Name is the node's name, unique in its cluster.
	Name string
	// Cluster names the cluster, for reports.
	Cluster string
	// Cookie is the cluster's shared secret.
	Cookie string
	// Bind is the host:port for gossip and RPC (UDP and TCP).
	Bind string
	// Profile is the gossip timing profile.
	Profile membership.Profile
	// Join lists addresses of running nodes to join once listening.
	Join []string
	// Incarnation numbers this start of the node; see node.Config.
	Incarnation uint64
	// WatchStdin makes the agent exit when its stdin closes: the runner
	// holds the other end, so the agent dies with it.
	WatchStdin bool
	// Log receives memberlist's and the engine's log lines (standard
	// error when nil, where the runner that started the agent reads them).
	Log io.Writer
	// Registry is what the node runs (node.Builtin() when nil).
	Registry *node.Registry
	// Limits bound the node's processes and queues; see node.Config.
	Limits process.Limits
	// DataDir is the node's data directory ("": none); see node.Config.
	DataDir string
}

// Run runs one real node until ctx ends, stdin closes (WatchStdin), or the
// runner asks it to exit. Once the node is listening it prints the ready
// line (Ready, one JSON object) on out.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	nw, err := transport.ListenSocket(cfg.Bind)
	if err != nil {
		return err
	}
	n, err := node.Start(node.Config{
		Name:     cfg.Name,
		Cookie:   cfg.Cookie,
		Cluster:  cfg.Cluster,
		Profile:  cfg.Profile,
		Network:  nw,
		Log:      cfg.Log,
		Registry: cfg.Registry,
		Limits:   cfg.Limits,
		DataDir:  cfg.DataDir,

		Incarnation: cfg.Incarnation,
	})
	if err != nil {
		nw.Close()
		return err
	}
	defer n.Shutdown()
	if err := json.NewEncoder(out).Encode(Ready{Name: cfg.Name, Addr: n.Addr(), PID: os.Getpid()}); err != nil {
		return fmt.Errorf("write ready line: %w", err)
	}
	if len(cfg.Join) > 0 {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.Join(jctx, cfg.Join)
		cancel()
		if err != nil {
			return err
		}
	}
	stdinClosed := make(chan struct{})
	if cfg.WatchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, in)
			close(stdinClosed)
		}()
	}
	select {
	case <-ctx.Done():
		// An interrupted agent leaves gracefully.
		lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return n.Leave(lctx)
	case <-stdinClosed:
	case <-n.ExitRequested():
	}
	return nil
}

// Main runs the command line of a program built on the engine: `agent`
// and `ops`, as the package comment shows, over reg. It returns the exit
// status: 0 success, 1 the node failed, 2 a usage error. Call it as
// os.Exit(agent.Main(reg)).
func Main(reg *node.Registry) int {
	return run(reg, os.Args, os.Stdin, os.Stdout, os.Stderr)
}

func run(reg *node.Registry, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := "agent"
	if len(args) > 0 {
		name = filepath.Base(args[0])
	}
	app := &cli.App{
		Name:            name,
		Usage:           "a cluster node built on the clusterscript engine",
		HideHelpCommand: true,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		Commands:        []*cli.Command{Command(reg), OpsCommand(reg)},
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(fmt.Sprintf("%s: %v (see %s --help)", c.App.Name, err, c.App.Name), 2)
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	if len(args) < 2 || app.Command(args[1]) == nil && args[1] != "--help" && args[1] != "-h" {
		got := "none"
		if len(args) >= 2 {
			got = fmt.Sprintf("%q", args[1])
		}
		fmt.Fprintf(stderr, "%s: want a command, agent (run one node) or ops (list its operations); got %s\n", name, got)
		return 2
	}
	err := app.Run(args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 2
}
