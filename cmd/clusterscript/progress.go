package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/scenario"
)

// printer writes a line per case as it finishes, whole, so parallel files
// never interleave mid-line. On a terminal it also keeps a live status
// line at the bottom (counts and elapsed time), erased before every other
// write and when the run ends.
type printer struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	live    bool
	start   time.Time
	status  bool // the status line is on screen
	passed  int
	failed  int
	skipped int
	stop    chan struct{}
	done    chan struct{}
}

func newPrinter(w io.Writer, verbose bool) *printer {
	p := &printer{w: w, verbose: verbose, start: time.Now()}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb" {
		p.live = true
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.tick()
	}
	return p
}

func (p *printer) tick() {
	defer close(p.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawStatus()
			p.mu.Unlock()
		}
	}
}

// close erases the status line and stops updating it.
func (p *printer) close() {
	if !p.live {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	p.clearStatus()
	p.mu.Unlock()
}

func (p *printer) clearStatus() {
	if p.status {
		io.WriteString(p.w, "\r\x1b[K")
		p.status = false
	}
}

func (p *printer) drawStatus() {
	if !p.live {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[Krunning: %d passed, %d failed, %d skipped (%s)",
		p.passed, p.failed, p.skipped, time.Since(p.start).Round(100*time.Millisecond))
	p.status = true
}

// write puts whole lines on the output under the status line.
func (p *printer) write(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearStatus()
	io.WriteString(p.w, s)
	p.drawStatus()
}

func (p *printer) result(r scenario.Result) {
	var b strings.Builder
	tag := map[string]func(...any) string{
		scenario.Pass: color.New(color.FgGreen, color.Bold).Sprint,
		scenario.Fail: color.New(color.FgRed, color.Bold).Sprint,
		scenario.Skip: color.New(color.FgYellow).Sprint,
	}[r.Status]
	took := r.Duration.Round(time.Millisecond).String()
	if r.Clock == scenario.ClockVirtual {
		took = fmt.Sprintf("%s virtual, %s wall", took, r.Wall.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "%s %s (%s)", tag(r.Status), r.CaseID, took)
	if r.Status == scenario.Skip {
		fmt.Fprintf(&b, ": %s", r.Message)
	}
	b.WriteString("\n")
	if r.Status == scenario.Fail {
		for _, line := range strings.Split(r.Message, "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
		if r.Backtrace != "" {
			for _, line := range strings.Split(strings.TrimRight(r.Backtrace, "\n"), "\n") {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		}
		if !p.verbose && len(r.Logs) > 0 {
			b.WriteString("    log:\n")
			for _, l := range r.Logs {
				fmt.Fprintf(&b, "      %s\n", l)
			}
		}
		writeNodeLogs(&b, r)
	}
	p.mu.Lock()
	switch r.Status {
	case scenario.Pass:
		p.passed++
	case scenario.Fail:
		p.failed++
	case scenario.Skip:
		p.skipped++
	}
	p.mu.Unlock()
	p.write(b.String())
}

// maxTails bounds the nodes whose log tails a failure prints; the rest
// are in the artifacts.
const maxTails = 20

// writeNodeLogs ends a failure's report: where its artifacts are, then the
// last lines of each node's log.
func writeNodeLogs(b *strings.Builder, r scenario.Result) {
	if r.Artifacts != "" {
		fmt.Fprintf(b, "    artifacts: %s (timeline.html, history.jsonl, nodes/*.log)\n", r.Artifacts)
	}
	for i, t := range r.NodeLogs {
		if i == maxTails {
			fmt.Fprintf(b, "    ... and %d more nodes' logs (run with --artifacts DIR to keep them all)\n", len(r.NodeLogs)-maxTails)
			break
		}
		fmt.Fprintf(b, "    node %s, last %d log lines:\n", t.Node, len(t.Lines))
		for _, l := range t.Lines {
			fmt.Fprintf(b, "      %s\n", l)
		}
	}
}

// nodeLog shows a node's log line live (-v), prefixed by its node.
func (p *printer) nodeLog(id scenario.CaseID, node, line string) {
	if !p.verbose {
		return
	}
	p.write(fmt.Sprintf("    [%s] %s | %s\n", id.Name, node, line))
}

func (p *printer) log(id scenario.CaseID, line string) {
	if !p.verbose {
		return
	}
	p.write(fmt.Sprintf("    [%s] %s\n", id.Name, line))
}

// writeReports writes --junit and --json files. Failing to write one is
// exit 2: CI would otherwise miss the results.
func writeReports(c *cli.Context, sum scenario.Summary, seed int64, elapsed time.Duration) error {
	write := func(flag string, f func(io.Writer) error) error {
		path := c.String(flag)
		if path == "" {
			return nil
		}
		file, err := os.Create(path)
		if err != nil {
			return usage("--%s: %v", flag, err)
		}
		if err := f(file); err != nil {
			file.Close()
			return usage("--%s %s: %v", flag, path, err)
		}
		if err := file.Close(); err != nil {
			return usage("--%s %s: %v", flag, path, err)
		}
		return nil
	}
	if err := write("junit", func(w io.Writer) error { return scenario.WriteJUnit(w, sum) }); err != nil {
		return err
	}
	return write("json", func(w io.Writer) error { return scenario.WriteJSON(w, sum, seed, elapsed) })
}

// checkReportPaths makes each report's directory, as --artifacts makes
// its own, and fails early, before a long run, when it cannot.
func checkReportPaths(c *cli.Context) error {
	for _, flag := range []string{"junit", "json"} {
		if path := c.String(flag); path != "" {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return usage("--%s %s: cannot make its directory: %v", flag, path, err)
			}
		}
	}
	return nil
}

// diff reports a case's comparison across the two sides: nothing when the
// sides agree, else one line per difference (DIFF when it fails the run,
// WARN when it only warns), with the declared ones counted.
func (p *printer) diff(d scenario.Diff) {
	unexpected := d.Report.Unexpected("")
	if len(unexpected) == 0 {
		return
	}
	var b strings.Builder
	tag := color.New(color.FgYellow, color.Bold).Sprint("WARN")
	if d.Failed {
		tag = color.New(color.FgRed, color.Bold).Sprint("DIFF")
	}
	fmt.Fprintf(&b, "%s %s\n", tag, d)
	for _, df := range unexpected {
		fmt.Fprintf(&b, "    %-11s %s\n", df.Kind, df.Text)
	}
	expected, explained := d.Report.Quiet()
	if expected > 0 {
		fmt.Fprintf(&b, "    (and %d expected, declared with diff.expect)\n", expected)
	}
	if explained > 0 {
		fmt.Fprintf(&b, "    (and %d observations explained by faults both sides made)\n", explained)
	}
	if d.Artifacts != "" {
		fmt.Fprintf(&b, "    diff: %s\n", d.Artifacts)
	}
	p.write(b.String())
}
