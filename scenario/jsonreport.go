package scenario

import (
	"encoding/json"
	"io"
	"time"

	"github.com/clusterscript/clusterscript/nodelog"
)

// JSONReport is the document `run --json FILE` writes: one object per case
// run, in the order they finished, and a summary.
type JSONReport struct {
	Cases []JSONCase `json:"cases"`
	// Diffs are a differential run's comparisons (run --diff), one per
	// case.
	Diffs   []Diff      `json:"diffs,omitempty"`
	Summary JSONSummary `json:"summary"`
}

// JSONCase is one case's outcome.
type JSONCase struct {
	File    string `json:"file"`
	Name    string `json:"name"`
	Backend string `json:"backend"`
	Clock   string `json:"clock"`
	Status  string `json:"status"`
	// Seconds is the case's duration on its clock, WallSeconds on the
	// wall clock.
	Seconds     float64  `json:"seconds"`
	WallSeconds float64  `json:"wall_seconds"`
	Message     string   `json:"message,omitempty"`
	Backtrace   string   `json:"backtrace,omitempty"`
	Logs        []string `json:"logs,omitempty"`
	Seed        int64    `json:"seed"`
	// Artifacts is the case's artifact directory (run --artifacts).
	Artifacts string `json:"artifacts,omitempty"`
	// NodeLogs are the last lines of each node's log, for a failure.
	NodeLogs []nodelog.Tail `json:"node_logs,omitempty"`
}

// JSONSummary counts the cases; Line is the run's closing line.
type JSONSummary struct {
	Passed  int     `json:"passed"`
	Failed  int     `json:"failed"`
	Skipped int     `json:"skipped"`
	Total   int     `json:"total"`
	Seconds float64 `json:"seconds"`
	Seed    int64   `json:"seed"`
	Line    string  `json:"line"`
	// DiffLine closes a differential run's report; Diverged counts the
	// cases whose differences fail the run.
	DiffLine string `json:"diff_line,omitempty"`
	Diverged int    `json:"diverged,omitempty"`
}

// WriteJSON writes the run's report as one indented JSON document.
// elapsed is the run's wall-clock time.
func WriteJSON(w io.Writer, sum Summary, seed int64, elapsed time.Duration) error {
	rep := JSONReport{Cases: []JSONCase{}, Summary: JSONSummary{
		Passed: sum.Passed, Failed: sum.Failed, Skipped: sum.Skipped,
		Total: len(sum.Results), Seconds: elapsed.Seconds(), Seed: seed, Line: sum.Line(),
		DiffLine: sum.DiffLine(), Diverged: sum.Diverged,
	}, Diffs: sum.Diffs}
	for _, r := range sum.Results {
		rep.Cases = append(rep.Cases, JSONCase{
			File: r.File, Name: r.Name, Backend: r.Backend, Status: r.Status,
			Clock: r.Clock, Seconds: r.Duration.Seconds(), WallSeconds: r.Wall.Seconds(), Message: r.Message, Backtrace: r.Backtrace,
			Logs: r.Logs, Seed: r.Seed, Artifacts: r.Artifacts, NodeLogs: r.NodeLogs,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}
