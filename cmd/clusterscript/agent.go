package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run one real node (started by the runner, or by hand on any host to form a cluster)",
		Description: "The cookie comes from $" + cluster.CookieEnv + " (or --cookie). Once listening the agent prints\n" +
			`one JSON line {"name", "addr", "pid"} on stdout. Start agents on several hosts with --bind on a` + "\n" +
			"reachable address and --join pointing at any running agent to span machines.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "node name (default: the host name)"},
			&cli.StringFlag{Name: "cluster", Value: "cluster", Usage: "cluster name, for reports"},
			&cli.StringFlag{Name: "bind", Value: "127.0.0.1:0", Usage: "host:port for gossip and RPC (UDP and TCP); loopback unless told otherwise"},
			&cli.StringFlag{Name: "cookie", Usage: "shared secret (prefer $" + cluster.CookieEnv + ": argv is visible to other users)"},
			&cli.StringFlag{Name: "profile", Value: "test", Usage: "gossip profile: " + strings.Join(membership.ProfileNames(), ", ")},
			&cli.StringFlag{Name: "profile-json", Hidden: true, Usage: "the full gossip profile as JSON (set by the runner)"},
			&cli.StringSliceFlag{Name: "join", Usage: "address of a running node to join (repeatable)"},
			&cli.BoolFlag{Name: "watch-stdin", Hidden: true, Usage: "exit when stdin closes (set by the runner)"},
			&cli.StringFlag{Name: "log-file", Usage: "write memberlist's log here"},
			&cli.Uint64Flag{Name: "incarnation", Usage: "this start's number, part of every pid; must grow with each restart under the same name (default: the start time in Unix seconds)"},
		},
		Action: agentAction,
	}
}

func agentAction(c *cli.Context) error {
	cookie := c.String("cookie")
	if cookie == "" {
		cookie = os.Getenv(cluster.CookieEnv)
	}
	if cookie == "" {
		return usage("agent: no cookie: set $%s or --cookie", cluster.CookieEnv)
	}
	name := c.String("name")
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return usage("agent: --name is required: %v", err)
		}
		name = h
	}
	profile, err := membership.LookupProfile(c.String("profile"))
	if err != nil {
		return usage("agent: %v", err)
	}
	if pj := c.String("profile-json"); pj != "" {
		var p membership.Profile
		if err := json.Unmarshal([]byte(pj), &p); err != nil {
			return usage("agent: --profile-json: %v", err)
		}
		profile = profile.Override(p)
	}
	if err := profile.Validate(); err != nil {
		return usage("agent: profile %s: %v", profile.Name, err)
	}
	var logw io.Writer
	if f := c.String("log-file"); f != "" {
		lf, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return usage("agent: --log-file: %v", err)
		}
		defer lf.Close()
		logw = lf
	}
	incarnation := c.Uint64("incarnation")
	if incarnation == 0 {
		// Started by hand: a restart a second later still gets new pids.
		incarnation = uint64(time.Now().Unix())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = cluster.RunAgent(ctx, cluster.AgentConfig{
		Name:       name,
		Cluster:    c.String("cluster"),
		Cookie:     cookie,
		Bind:       c.String("bind"),
		Profile:    profile,
		Join:       c.StringSlice("join"),
		WatchStdin: c.Bool("watch-stdin"),
		Log:        logw,

		Incarnation: incarnation,
	}, os.Stdin, c.App.Writer)
	if err != nil {
		return cli.Exit(fmt.Sprintf("agent %s: %v", name, err), 1)
	}
	return nil
}
