package builtins

import (
	"encoding/json"
	"io"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// What a case leaves behind: every cluster it starts records into the
// session's history and logs each node into the session's logs. c.history()
// and c.check() read the history; the runner writes both out as artifacts.

// history returns the session's history, starting it now if the runner did
// not (the REPL).
func (s *Session) history() *history.Recorder {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.History == nil {
		origin := s.Start
		if origin.IsZero() {
			origin = time.Now()
		}
		s.History = history.NewRecorder(origin)
	}
	return s.History
}

// nodeLog returns where the logs of a cluster's nodes go, or nil. Nodes of
// the session's first cluster log under their own names, later clusters'
// as "<cluster>/<node>", so that two clusters' n1 stay apart.
func (s *Session) nodeLog(clusterName string) func(string) io.Writer {
	if s.Logs == nil {
		return nil
	}
	first := len(s.Clusters()) == 0
	return func(node string) io.Writer {
		if first {
			return s.Logs.Writer(node)
		}
		return s.Logs.Writer(clusterName + "/" + node)
	}
}

// noteOp records an operation the scenario called on n: its name,
// parameters, how long it took, and its result or error code. A big
// parameter or result is kept as its size, digest and beginning
// (history.Kept).
func noteOp(n *cluster.Node, op string, params map[string]any, start time.Time, raw json.RawMessage, err error, extra map[string]any) {
	kept := make(map[string]any, len(params))
	for k, v := range params {
		if b, jerr := json.Marshal(v); jerr == nil && len(b) > history.MaxKeptValue {
			kept[k] = history.Kept(b)
		} else {
			kept[k] = v
		}
	}
	f := map[string]any{"op": op, "params": kept, "duration": history.Seconds(time.Since(start))}
	for k, v := range extra {
		f[k] = v
	}
	switch {
	case err != nil:
		f["code"] = errcode.Code(err)
		f["error"] = errcode.Bound(err.Error(), history.MaxKeptValue)
	case len(raw) > 0:
		f["result"] = history.Kept(raw)
	}
	n.Cluster().Note(start, history.Record{Kind: history.KindOp, Node: n.Name(), Fields: f})
}

// recordValue is a record as the dict c.history() returns.
func recordValue(r history.Record) starlark.Value {
	b, err := json.Marshal(r)
	if err != nil {
		return starlark.String(err.Error())
	}
	v, err := decodeJSON(b)
	if err != nil {
		return starlark.String(err.Error())
	}
	return v
}

func clusterHistory(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, r := range b.Receiver().(*Cluster).c.History(s.ctx()) {
		out = append(out, recordValue(r))
	}
	return starlark.NewList(out), nil
}

func clusterCheck(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, f := range b.Receiver().(*Cluster).c.Check(s.ctx()) {
		var recs []starlark.Value
		for _, r := range f.Records {
			recs = append(recs, recordValue(r))
		}
		d := starlark.NewDict(5)
		_ = d.SetKey(starlark.String("check"), starlark.String(f.Check))
		_ = d.SetKey(starlark.String("t"), starlark.Float(f.T))
		_ = d.SetKey(starlark.String("node"), starlark.String(f.Node))
		_ = d.SetKey(starlark.String("message"), starlark.String(f.Message))
		_ = d.SetKey(starlark.String("records"), starlark.NewList(recs))
		out = append(out, d)
	}
	return starlark.NewList(out), nil
}
