package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fatih/color"
	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/scenario"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run scenario files (*.star; directories recursively; default ./scenarios)",
		ArgsUsage: "[PATH...]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "backend", Usage: "default backend for cluster.start: sim, real, or a list such as sim,real (each file runs once per backend); without it, the configuration file's, else sim, or real when --agent names the nodes' binary"},
			&cli.IntFlag{Name: "parallel", Aliases: []string{"j"}, Value: 1, Usage: "files to run at once"},
			&cli.StringFlag{Name: "run", Usage: "run only cases whose name matches this regexp"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "per-case timeout"},
			&cli.StringSliceFlag{Name: "var", Usage: "KEY=VALUE, available to scenarios as vars[KEY] (repeatable)"},
			&cli.Int64Flag{Name: "seed", Usage: "seed for fault decisions (default: random, printed on failure)"},
			&cli.BoolFlag{Name: "fail-fast", Usage: "stop after the first failed case"},
			&cli.IntFlag{Name: "count", Value: 1, Usage: "run every case N times"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print log() lines as they happen"},
			&cli.BoolFlag{Name: "no-color", Usage: "plain output (also NO_COLOR)"},
			&cli.StringFlag{Name: "config", Usage: "YAML configuration (default ./" + defaultConfigFile + " when present)"},
			&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML report to FILE"},
			&cli.StringFlag{Name: "json", Usage: "write a JSON report to FILE"},
			&cli.StringFlag{Name: "clock", Value: scenario.ClockVirtual, Usage: "clock of simulated cases: virtual (waiting costs no wall time), real, or virtual,real (each simulated file runs on both); real nodes always run on the real clock"},
			&cli.StringFlag{Name: "diff", Usage: "compare every case across the run's two sides (--backend sim,real, or --clock virtual,real) and report where they part; a verdict difference fails the run, other differences warn (--diff) or fail it too (--diff strict)"},
			&cli.StringFlag{Name: "diff-timing", Value: "5x", Usage: "with --diff, the ratio between the sides beyond which a timing (convergence, failure detection, operation latency) is reported"},
			agentFlag(),
			&cli.StringFlag{Name: "artifacts", Usage: "write every case's history.jsonl, timeline.html and nodes/*.log under DIR/<file stem>/<case>-<backend>/"},
		}, append(hostsFlags(), profileFlags()...)...),
		Action: runAction,
	}
}

func parseVars(kvs []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var: want KEY=VALUE, got %q", kv)
		}
		vars[k] = v
	}
	return vars, nil
}

func runAction(c *cli.Context) error {
	tuneGC()
	if c.Bool("no-color") || os.Getenv("NO_COLOR") != "" {
		color.NoColor = true
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	parallel, timeout := c.Int("parallel"), c.Duration("timeout")
	if !c.IsSet("parallel") && cfg.Run.Parallel > 0 {
		parallel = cfg.Run.Parallel
	}
	if !c.IsSet("timeout") && cfg.Run.Timeout > 0 {
		timeout = cfg.Run.Timeout
	}
	clock := c.String("clock")
	if !c.IsSet("clock") && cfg.Run.Clock != "" {
		clock = cfg.Run.Clock
	}
	clocks := strings.Split(clock, ",")
	for _, ck := range clocks {
		if ck != scenario.ClockVirtual && ck != scenario.ClockReal {
			return usage("--clock: want virtual, real or virtual,real, got %q", clock)
		}
	}
	differ, err := diffOptions(c)
	if err != nil {
		return err
	}
	backends, err := backends(c, cfg)
	if err != nil {
		return err
	}
	vars, err := parseVars(c.StringSlice("var"))
	if err != nil {
		return usage("%v", err)
	}
	var re *regexp.Regexp
	if p := c.String("run"); p != "" {
		if re, err = regexp.Compile(p); err != nil {
			return usage("--run: %v", err)
		}
	}
	if parallel < 1 || c.Int("count") < 1 {
		return usage("--parallel and --count must be at least 1")
	}
	seed := c.Int64("seed")
	if !c.IsSet("seed") {
		seed = rand.Int64N(1 << 31)
	}
	files, err := scenarioFiles(c)
	if err != nil {
		return err
	}
	if err := checkReportPaths(c); err != nil {
		return err
	}
	artifacts := c.String("artifacts")
	if artifacts != "" {
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			return usage("--artifacts: %v", err)
		}
	}
	ops, err := surfaceOps(c, 1)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		return usage("--timeout: must be positive, got %s", timeout)
	}
	stopProfiles, err := startProfiles(c)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfiles(); perr != nil {
			fmt.Fprintln(c.App.ErrWriter, perr)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal cancels the run (clusters are torn down); a second
	// one kills the runner outright, and its agents with it.
	go func() { <-ctx.Done(); stop() }()

	fleet, err := openFleet(ctx, c, cfg)
	if err != nil {
		return err
	}
	defer closeFleet(c, fleet)

	out := c.App.Writer
	p := newPrinter(out, c.Bool("verbose"))
	if differ != nil {
		differ.Report = p.diff
	}
	began := time.Now()
	sum, err := scenario.Run(ctx, files, scenario.Options{
		Backends:  backends,
		Settings:  settings(c, cfg, seed, fleet),
		Ops:       ops,
		Run:       re,
		Timeout:   timeout,
		Vars:      vars,
		Parallel:  parallel,
		FailFast:  c.Bool("fail-fast"),
		Count:     c.Int("count"),
		Report:    p.result,
		Log:       p.log,
		Clocks:    clocks,
		Diff:      differ,
		Warn:      func(line string) { fmt.Fprintln(c.App.ErrWriter, line) },
		NodeLog:   p.nodeLog,
		Artifacts: artifacts,
	})
	p.close()
	if err != nil {
		// Script errors stop the run before any case: report them, and
		// still close with the count line.
		fmt.Fprintln(c.App.ErrWriter, err)
		fmt.Fprintln(out, sum.Line())
		return cli.Exit("", 2)
	}
	if err := writeReports(c, sum, seed, time.Since(began)); err != nil {
		return err
	}
	if slices.ContainsFunc(sum.Results, func(r scenario.Result) bool { return r.Status == scenario.Fail && r.Faults }) {
		// Only faults draw on the seed: replaying anything else needs none.
		fmt.Fprintf(out, "seed %d (replay with --seed %d)\n", seed, seed)
	}
	if line := sum.ClockLine(); line != "" {
		fmt.Fprintln(out, line)
	}
	if line := sum.DiffLine(); line != "" {
		if c.Bool("verbose") {
			fmt.Fprintln(out, "timings measured on both sides (ratio, metric, subject, each side, case):")
			for _, row := range sum.TimingTable() {
				fmt.Fprintln(out, "  "+row)
			}
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out, sum.Line())
	if sum.Failed > 0 || sum.Diverged > 0 {
		return cli.Exit("", 1)
	}
	if ctx.Err() != nil {
		return cli.Exit("interrupted", 1)
	}
	return nil
}

// optionalValues are the values of flags whose value may be left out,
// the first being what the bare flag means.
var optionalValues = map[string][]string{"diff": {"warn", "strict"}}

// diffOptions reads --diff and --diff-timing: nil without --diff.
func diffOptions(c *cli.Context) (*scenario.DiffOptions, error) {
	if !c.IsSet("diff") {
		if c.IsSet("diff-timing") {
			return nil, usage("--diff-timing needs --diff")
		}
		return nil, nil
	}
	mode := c.String("diff")
	if !slices.Contains(optionalValues["diff"], mode) {
		return nil, usage("--diff: want warn or strict, got %q", mode)
	}
	raw := c.String("diff-timing")
	ratio, err := strconv.ParseFloat(strings.TrimSuffix(raw, "x"), 64)
	if err != nil || ratio <= 1 || math.IsInf(ratio, 0) {
		return nil, usage("--diff-timing: want a ratio above 1 such as 5x, got %q", raw)
	}
	return &scenario.DiffOptions{Strict: mode == "strict", Timing: ratio}, nil
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "parse and resolve scenarios and the configuration without running them; report every error",
		ArgsUsage: "[PATH...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "YAML configuration (default ./" + defaultConfigFile + " when present)"},
			agentFlag(),
		},
		Action: func(c *cli.Context) error {
			files, err := scenarioFiles(c)
			if err != nil {
				return err
			}
			// What run would refuse, check reports: the configuration too.
			ops, err := surfaceOps(c, 2)
			if err != nil {
				return err
			}
			var errs []string
			if _, err := loadConfig(c); err != nil {
				errs = append(errs, err.Error())
			}
			for _, f := range files {
				for _, e := range scenario.Check(f, ops) {
					errs = append(errs, e.Error())
				}
			}
			if len(errs) > 0 {
				return cli.Exit(strings.Join(errs, "\n"), 2)
			}
			fmt.Fprintf(c.App.Writer, "%d files ok\n", len(files))
			return nil
		},
	}
}

// scenarioFiles finds the scenario files the command's arguments name
// (default ./scenarios).
func scenarioFiles(c *cli.Context) ([]string, error) {
	paths := c.Args().Slice()
	if len(paths) == 0 {
		paths = []string{"scenarios"}
	}
	files, err := scenario.Discover(paths)
	if err != nil {
		return nil, usage("%v", err)
	}
	return files, nil
}
