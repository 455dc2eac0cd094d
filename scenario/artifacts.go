package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/history/timeline"
	"github.com/clusterscript/clusterscript/nodelog"
)

// What a case leaves behind: its history and its nodes' logs, kept while
// it runs, and with --artifacts DIR written to
// DIR/<file stem>/<case>-<backend>/ as history.jsonl, timeline.html and
// nodes/<node>.log.

// caseRecord is what one case keeps while it runs.
type caseRecord struct {
	r    *runner
	dir  string // "" when the run keeps no artifacts
	hist *history.Recorder
	logs *nodelog.Set
}

// newCaseRecord starts a case's history and logs. A session kept for the
// file's cases (keep) writes no files: its clusters outlive it.
func (r *runner) newCaseRecord(id CaseID, start time.Time, keep bool) *caseRecord {
	cr := &caseRecord{r: r, hist: history.NewRecorder(start)}
	opts := nodelog.Options{Origin: start}
	if r.opts.Artifacts != "" && !keep {
		cr.dir = r.caseDir(id)
		opts.Dir = filepath.Join(cr.dir, "nodes")
	}
	if r.opts.NodeLog != nil {
		opts.Live = func(node, line string) { r.opts.NodeLog(id, node, line) }
	}
	cr.logs = nodelog.New(opts)
	return cr
}

// caseDir returns a directory no other case of the run uses.
func (r *runner) caseDir(id CaseID) string {
	stem := strings.TrimSuffix(filepath.Base(id.File), filepath.Ext(id.File))
	side := id.Backend
	if r.multiClock && id.Backend == string(cluster.Sim) {
		side += "-" + id.Clock
	}
	base := filepath.Join(r.opts.Artifacts, safeName(stem), safeName(id.Name)+"-"+side)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirs == nil {
		r.dirs = map[string]bool{}
	}
	dir := base
	for i := 2; r.dirs[dir]; i++ {
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	r.dirs[dir] = true
	return dir
}

// safeName keeps letters, digits, '.', '-' and '_': "(top level)" becomes
// "top_level".
func safeName(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

// discard drops a case that will run again: its logs, its directory, and
// its claim on the directory's name.
func (cr *caseRecord) discard() {
	_ = cr.logs.Close()
	if cr.dir == "" {
		return
	}
	_ = os.RemoveAll(cr.dir)
	cr.r.mu.Lock()
	delete(cr.r.dirs, cr.dir)
	cr.r.mu.Unlock()
}

// attach gives the session the case's history and logs.
func (cr *caseRecord) attach(s *builtins.Session) {
	s.History, s.Logs, s.Artifacts = cr.hist, cr.logs, cr.dir
}

// finish ends the case's record and, when keep asks or artifacts are
// written, returns its history: the logs' tails go into a failed result,
// and the artifacts are written. failedAt is when the case's body returned
// its error.
func (cr *caseRecord) finish(res *Result, err error, failedAt time.Time, keep bool) []history.Record {
	_ = cr.logs.Close()
	if res.Status == Fail {
		res.NodeLogs = cr.logs.Tails()
	}
	page := timeline.Page{Title: res.CaseID.String(), Status: res.Status, End: cr.hist.Since(time.Now())}
	if res.Status == Fail {
		f := &timeline.Failure{T: cr.hist.Since(failedAt), Pos: failurePos(err), Message: res.Message}
		cr.hist.Add(failedAt, history.Record{Kind: history.KindFailure, Fields: map[string]any{"pos": f.Pos, "message": f.Message}})
		page.Failure = f
	}
	if cr.dir == "" && !keep {
		return nil
	}
	page.Records = cr.hist.Records()
	if cr.dir == "" {
		return page.Records
	}
	if werr := cr.write(page); werr != nil {
		res.Logs = append(res.Logs, fmt.Sprintf("clusterscript: artifacts: %v", werr))
		return page.Records
	}
	res.Artifacts = cr.dir
	return page.Records
}

func (cr *caseRecord) write(page timeline.Page) error {
	if err := os.MkdirAll(filepath.Join(cr.dir, "nodes"), 0o755); err != nil {
		return err
	}
	if n := cr.hist.Dropped(); n > 0 {
		page.Records = append(page.Records, history.Record{T: page.End, Kind: history.KindLost, Fields: map[string]any{"count": float64(n), "error": "the history reached its limit"}})
	}
	if err := writeFile(filepath.Join(cr.dir, "history.jsonl"), func(f *os.File) error { return history.WriteJSONL(f, page.Records) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(cr.dir, "timeline.html"), func(f *os.File) error { return timeline.Render(f, page) })
}

func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// failurePos is the file:line:col a failure happened at: the assertion's,
// or the innermost scenario frame of an error.
func failurePos(err error) string {
	var ae *builtins.AssertionError
	if errors.As(err, &ae) {
		return ae.Pos
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		for i := len(ee.CallStack) - 1; i >= 0; i-- {
			if pos := ee.CallStack[i].Pos; pos.Filename() != "<builtin>" {
				return pos.String()
			}
		}
	}
	return ""
}
