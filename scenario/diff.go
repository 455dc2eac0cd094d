package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/history/diff"
	"github.com/clusterscript/clusterscript/history/timeline"
)

// A differential run runs every case on two sides (simulated and real
// nodes, or the virtual and the real clock) and compares what each did:
// its verdict, what its nodes observed, what its operations answered and
// how long things took (package history/diff). A verdict that differs
// fails the run even when each side alone would pass; the other
// differences warn, unless Strict.

// DiffOptions configure a differential run.
type DiffOptions struct {
	// Strict fails the run on any difference no case declared, not only
	// on a verdict.
	Strict bool
	// Timing is the ratio beyond which a timing differs (0:
	// diff.DefaultTiming).
	Timing float64
	// Report receives each case's comparison as both its sides finish,
	// one call at a time.
	Report func(Diff)
}

// Diff is one case compared across the run's two sides.
type Diff struct {
	File string `json:"file"`
	Name string `json:"name"`
	// Sides are the case's two results, in the run's order of sides.
	Sides [2]Result `json:"-"`
	// Report is what the comparison found.
	Report diff.Report `json:"report"`
	// Failed reports that the difference fails the run: a verdict
	// difference, or with Strict any difference, that no case declared.
	Failed bool `json:"failed"`
	// Artifacts is the diff.html written for the case.
	Artifacts string `json:"artifacts,omitempty"`
}

// Lines are the case's differences, one line each, as the reports write
// them: kind, text, and why one does not count.
func (d Diff) Lines() []string {
	out := make([]string, len(d.Report.Differences))
	for i, df := range d.Report.Differences {
		out[i] = diffLine(df)
	}
	return out
}

// String names the case and its sides: "file::case [sim | real]".
func (d Diff) String() string {
	return fmt.Sprintf("%s::%s [%s | %s]", d.File, d.Name, d.Report.Sides[0], d.Report.Sides[1])
}

// pairer holds each case's result until its other side's arrives.
type pairer struct {
	opts    DiffOptions
	labels  [2]string
	index   map[side]int
	pending map[pairKey]*[2]*Result
	order   []pairKey
}

type pairKey struct {
	file, name string
	iter       int
}

func newPairer(opts Options, sides []side) *pairer {
	p := &pairer{opts: *opts.Diff, index: map[side]int{}, pending: map[pairKey]*[2]*Result{}}
	for i, s := range sides {
		p.index[s] = i
		p.labels[i] = s.label
	}
	return p
}

// add keeps a result, and compares the case once both sides ran it.
func (p *pairer) add(r *runner, j job, res Result) {
	k := pairKey{res.File, res.Name, j.iter}
	r.mu.Lock()
	pair := p.pending[k]
	if pair == nil {
		pair = &[2]*Result{}
		p.pending[k] = pair
		p.order = append(p.order, k)
	}
	pair[p.index[j.side]] = &res
	done := pair[0] != nil && pair[1] != nil
	if done {
		delete(p.pending, k)
	}
	r.mu.Unlock()
	if done {
		p.compare(r, *pair[0], *pair[1])
	}
}

// flush reports the cases only one side ran: the other side's file
// failed before them, or the run stopped.
func (p *pairer) flush(r *runner) {
	for _, k := range p.order {
		pair := p.pending[k]
		if pair == nil {
			continue
		}
		var res [2]Result
		for i := range pair {
			if pair[i] != nil {
				res[i] = *pair[i]
			} else {
				res[i] = Result{CaseID: CaseID{File: k.file, Name: k.name}, Status: "not run"}
			}
		}
		p.compare(r, res[0], res[1])
	}
}

func (p *pairer) compare(r *runner, a, b Result) {
	var sides [2]diff.Side
	for i, res := range [2]Result{a, b} {
		sides[i] = diff.Side{Label: p.labels[i], Status: res.Status, Message: res.Message}
		if res.trace != nil {
			sides[i].Records, sides[i].End = res.trace.records, res.trace.end
		}
	}
	rep := diff.Compare(sides[0], sides[1], diff.Options{Timing: p.opts.Timing})
	d := Diff{File: a.File, Name: a.Name, Sides: [2]Result{a, b}, Report: rep}
	d.Failed = rep.Diverged() || (p.opts.Strict && len(rep.Unexpected("")) > 0)
	if r.opts.Artifacts != "" && (a.trace != nil || b.trace != nil) {
		path, err := r.writeDiffPage(d, sides)
		if err != nil {
			d.Artifacts = "(not written: " + err.Error() + ")"
		} else {
			d.Artifacts = path
		}
	}
	for i := range d.Sides {
		d.Sides[i].trace = nil
	}
	r.mu.Lock()
	r.summary.Diffs = append(r.summary.Diffs, d)
	if d.Failed {
		r.summary.Diverged++
	}
	if p.opts.Report != nil {
		p.opts.Report(d)
	}
	r.mu.Unlock()
}

// writeDiffPage writes DIR/<file stem>/<case>-diff/diff.html: the two
// sides' timelines one above the other, the differences marked.
func (r *runner) writeDiffPage(d Diff, sides [2]diff.Side) (string, error) {
	dir := r.caseDir(CaseID{File: d.File, Name: d.Name, Backend: "diff"})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	page := timeline.DiffPage{Title: d.String(), Verdict: !d.Failed}
	for i, s := range sides {
		res := d.Sides[i]
		p := timeline.Page{Title: s.Label, Status: res.Status, Records: s.Records, End: s.End}
		if res.Status == Fail {
			for _, rec := range s.Records {
				if rec.Kind == history.KindFailure {
					p.Failure = &timeline.Failure{T: rec.T, Pos: rec.Str("pos"), Message: rec.Str("message")}
				}
			}
		}
		if res.Artifacts != "" {
			if rel, err := filepath.Rel(dir, filepath.Join(res.Artifacts, "timeline.html")); err == nil {
				page.Links[i] = rel
			}
		}
		page.Sides[i] = p
	}
	for _, df := range d.Report.Differences {
		line := timeline.DiffLine{Kind: df.Kind, Text: df.Text, Expected: df.Expected, Explained: df.Explained}
		for i := range 2 {
			line.Marks[i] = timeline.DiffMark{Records: df.At[i], T: df.T[i], Node: df.Node}
		}
		// Where one side lacks what the other did, mark the time it
		// happened there on the side that lacks it.
		for i := range 2 {
			if df.At[i] == nil && df.At[1-i] != nil && df.Kind == diff.KindObservation {
				line.Marks[i] = timeline.DiffMark{T: df.T[1-i], Node: df.Node, Missing: true}
			}
		}
		page.Lines = append(page.Lines, line)
	}
	path := filepath.Join(dir, "diff.html")
	return path, writeFile(path, func(f *os.File) error { return timeline.RenderDiff(f, page) })
}

// DiffLine is the closing summary of a differential run, such as "diff
// sim | real: 33 cases compared, 0 verdict differences, 1 observation, 0
// result, 2 timing (largest 6.2x: failure detection of n3 after kill 1 in
// faults.star::test_kill)"; "" when the run compared nothing.
func (s Summary) DiffLine() string {
	if len(s.Diffs) == 0 {
		return ""
	}
	counts := map[string]int{}
	expected, explained := 0, 0
	var worst *diff.Timing
	var worstIn string
	for _, d := range s.Diffs {
		for _, df := range d.Report.Unexpected("") {
			counts[df.Kind]++
		}
		e, x := d.Report.Quiet()
		expected, explained = expected+e, explained+x
		for i, t := range d.Report.Timings {
			if worst == nil || t.Ratio > worst.Ratio {
				worst, worstIn = &d.Report.Timings[i], d.File+"::"+d.Name
			}
		}
	}
	sides := s.Diffs[0].Report.Sides
	line := fmt.Sprintf("diff %s | %s: %d cases compared, %d verdict differences, %d observation, %d result, %d timing",
		sides[0], sides[1], len(s.Diffs), counts[diff.KindVerdict], counts[diff.KindObservation], counts[diff.KindResult], counts[diff.KindTiming])
	if expected > 0 {
		line += fmt.Sprintf(", %d expected", expected)
	}
	if explained > 0 {
		line += fmt.Sprintf(", %d explained by faults", explained)
	}
	if worst != nil {
		line += fmt.Sprintf(" (largest timing ratio %.1fx: %s of %s in %s)", worst.Ratio, strings.ReplaceAll(worst.Metric, "_", " "), worst.Subject, worstIn)
	}
	return line
}

// TimingTable lists every timing both sides measured, largest ratio first.
func (s Summary) TimingTable() []string {
	type row struct {
		in string
		t  diff.Timing
	}
	var rows []row
	for _, d := range s.Diffs {
		for _, t := range d.Report.Timings {
			rows = append(rows, row{d.File + "::" + d.Name, t})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].t.Ratio > rows[j].t.Ratio })
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%5.1fx  %-18s %-28s %9.1fms %9.1fms  %s", r.t.Ratio, r.t.Metric, r.t.Subject, r.t.Seconds[0]*1000, r.t.Seconds[1]*1000, r.in))
	}
	return out
}

// trace is what a case did, kept until its other side has run.
type trace struct {
	records []history.Record
	end     float64
}
