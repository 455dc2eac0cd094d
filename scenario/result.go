package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/nodelog"
)

// What a run reports: each case's result, as it finishes, and the summary
// the closing lines are written from.

// CaseID names a case.
type CaseID struct {
	File    string `json:"file"`
	Name    string `json:"name"`
	Backend string `json:"backend"`
	// Clock is the clock the case ran on: virtual or real.
	Clock string `json:"clock"`
}

func (id CaseID) String() string {
	return fmt.Sprintf("%s::%s [%s, %s]", id.File, id.Name, id.Backend, id.Clock)
}

// Result is one case's outcome.
type Result struct {
	CaseID
	Status string `json:"status"`
	// Duration is how long the case took on its clock; Wall is how long
	// it took on the wall clock (the same on the real clock).
	Duration time.Duration `json:"duration_ns"`
	Wall     time.Duration `json:"wall_ns"`
	// Message is the failure message or skip reason.
	Message string `json:"message,omitempty"`
	// Backtrace is the Starlark backtrace of a failure, with file:line:col.
	Backtrace string `json:"backtrace,omitempty"`
	// Logs are the case's log() lines.
	Logs []string `json:"logs,omitempty"`
	// Seed replays the run's fault decisions.
	Seed int64 `json:"seed"`
	// Faults reports that the case put network faults in force (a
	// partition or a degraded link): the seed replays their decisions.
	Faults bool `json:"faults"`
	// NodeLogs are the last lines of every node's log, for a failure.
	NodeLogs []nodelog.Tail `json:"node_logs,omitempty"`
	// Artifacts is the directory the case's artifacts were written to.
	Artifacts string `json:"artifacts,omitempty"`

	// trace is what the case did, kept for a differential run.
	trace *trace
}

// Summary counts a run's results.
type Summary struct {
	Passed, Failed, Skipped int
	Results                 []Result
	// Diffs are a differential run's comparisons, one per case, in the
	// order both sides finished; Diverged counts those that fail the run.
	Diffs    []Diff
	Diverged int
}

// Line is the closing line: "N passed, N failed[, N skipped]".
func (s Summary) Line() string {
	line := fmt.Sprintf("%d passed, %d failed", s.Passed, s.Failed)
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	return line
}

// ClockLine says which clocks the cases ran on, and what virtual time
// cost in wall time, such as "clock: 22 cases on virtual time (12m3s in
// 410ms of wall time), 22 on the real clock"; "" for no cases.
func (s Summary) ClockLine() string {
	var nv, nr int
	var virtual, wall time.Duration
	for _, r := range s.Results {
		if r.Clock == ClockVirtual {
			nv++
			virtual += r.Duration
			wall += r.Wall
		} else {
			nr++
		}
	}
	var parts []string
	if nv > 0 {
		parts = append(parts, fmt.Sprintf("%d on virtual time (%s in %s of wall time)", nv, virtual.Round(time.Millisecond), wall.Round(time.Millisecond)))
	}
	if nr > 0 {
		parts = append(parts, fmt.Sprintf("%d on the real clock", nr))
	}
	if len(parts) == 0 {
		return ""
	}
	return "clock: " + strings.Join(parts, ", ")
}

// ScriptError is a syntax or resolve error: the run does not start.
type ScriptError struct{ Errs []error }

func (e *ScriptError) Error() string {
	var lines []string
	for _, err := range e.Errs {
		lines = append(lines, err.Error())
	}
	return strings.Join(lines, "\n")
}
