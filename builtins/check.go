package builtins

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/clusterscript/clusterscript/history/consistency"
)

// The check module: consistency checks over a workload's history, a list
// of dicts {t, client, node, type, op, params, result, error} in time
// order (records of another type, a nemesis's, are skipped).

// Model is the Starlark value of a consistency model.
type Model struct {
	m consistency.Model
}

func (m *Model) String() string        { return "<model " + m.m.Name + ">" }
func (m *Model) Type() string          { return "model" }
func (m *Model) Freeze()               {}
func (m *Model) Truth() starlark.Bool  { return true }
func (m *Model) Hash() (uint32, error) { return 0, errors.New("unhashable: model") }

// modelOf returns a model for a builtin: each named parameter is an
// operation or a field name; one ending in "?" may be None (its name is
// then "").
func modelOf(build func(names []string) consistency.Model, params ...string) impl {
	return func(_ *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
		names := make([]string, len(params))
		for i, p := range params {
			p, optional := strings.CutSuffix(p, "?")
			s, err := a.String(p)
			if err != nil {
				return nil, err
			}
			if s == "" && (!optional || a.Value(p) != starlark.None) {
				return nil, fmt.Errorf("%s: %s: must name an operation or a field", b.Name(), p)
			}
			names[i] = s
		}
		return &Model{m: build(names)}, nil
	}
}

// historyOps reads a Starlark history into the operations it records.
func historyOps(fn string, v starlark.Value) ([]consistency.Op, error) {
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("%s: history: want a list of records, got %s", fn, v.Type())
	}
	iter := it.Iterate()
	defer iter.Done()
	var recs []consistency.Record
	var x starlark.Value
	for i := 0; iter.Next(&x); i++ {
		d, ok := x.(*starlark.Dict)
		if !ok {
			return nil, fmt.Errorf("%s: history[%d]: want a dict, got %s", fn, i, x.Type())
		}
		r, err := historyRecord(d, i)
		if err != nil {
			return nil, fmt.Errorf("%s: history[%d]: %w", fn, i, err)
		}
		switch r.Type {
		case consistency.Invoke, consistency.OK, consistency.Fail, consistency.Info:
			recs = append(recs, r)
		}
	}
	ops, err := consistency.Ops(recs)
	if err != nil {
		return nil, fmt.Errorf("%s: history: %w", fn, err)
	}
	return ops, nil
}

// historyRecord reads one record of a workload history.
func historyRecord(d *starlark.Dict, i int) (consistency.Record, error) {
	r := consistency.Record{Index: i}
	get := func(k string) starlark.Value {
		v, _, _ := d.Get(starlark.String(k))
		if v == nil {
			return starlark.None
		}
		return v
	}
	typ, ok := get("type").(starlark.String)
	if !ok {
		return r, errors.New(`"type" must be a string (invoke, ok, fail, info)`)
	}
	r.Type = string(typ)
	if r.Type != consistency.Invoke && r.Type != consistency.OK && r.Type != consistency.Fail && r.Type != consistency.Info {
		return r, nil // a nemesis's, or another kind: not an operation
	}
	if c, ok := get("client").(starlark.Int); ok {
		n, exact := c.Int64()
		if !exact || n < 0 {
			return r, fmt.Errorf(`"client" must be a client number, got %s`, c)
		}
		r.Client = int(n)
	} else {
		return r, fmt.Errorf(`"client" must be an int, got %s`, get("client").Type())
	}
	op, ok := get("op").(starlark.String)
	if !ok {
		return r, fmt.Errorf(`"op" must be a string, got %s`, get("op").Type())
	}
	r.Op = string(op)
	if s, ok := get("node").(starlark.String); ok {
		r.Node = string(s)
	}
	if f, ok := starlark.AsFloat(get("t")); ok {
		r.T = f
	}
	params, err := fromStarlark(get("params"))
	if err != nil {
		return r, fmt.Errorf(`"params": %w`, err)
	}
	switch p := params.(type) {
	case nil:
	case map[string]any:
		r.Params = p
	default:
		return r, fmt.Errorf(`"params" must be a dict, got %s`, get("params").Type())
	}
	if r.Result, err = fromStarlark(get("result")); err != nil {
		return r, fmt.Errorf(`"result": %w`, err)
	}
	return r, nil
}

// opValue shows an operation as a scenario reads it.
func opValue(op consistency.Op) starlark.Value {
	params := map[string]any{}
	for k, v := range op.Params {
		params[k] = v
	}
	return toStarlark(map[string]any{
		"client": op.Client, "node": op.Node, "op": op.Op, "params": params,
		"type": op.Type, "result": op.Result, "t": op.T,
	})
}

func opList(ops []consistency.Op) *starlark.List {
	out := make([]starlark.Value, len(ops))
	for i, op := range ops {
		out[i] = opValue(op)
	}
	return starlark.NewList(out)
}

func findingsValue(fs []consistency.Finding) *starlark.List {
	out := make([]starlark.Value, len(fs))
	for i, f := range fs {
		out[i] = starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
			"check": starlark.String(f.Check), "message": starlark.String(f.Message), "ops": opList(f.Ops),
		})
	}
	return starlark.NewList(out)
}

func checkLinearizable(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	ops, err := historyOps(b.Name(), a.Value("history"))
	if err != nil {
		return nil, err
	}
	timeout, err := a.Duration("timeout")
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		// Unbounded, a check of a long history could outlive its case.
		return nil, fmt.Errorf("%s: timeout: must be positive, got %s", b.Name(), timeout)
	}
	var model consistency.Model
	var stepErr *starlarkStepError
	switch m := a.Value("model").(type) {
	case *Model:
		model = m.m
	case *starlarkstruct.Struct:
		model, stepErr, err = starlarkModel(thread, b.Name(), m)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: model: want a model (check.register, check.kv, ...) or struct(init=, step=), got %s", b.Name(), m.Type())
	}
	var r consistency.Result
	check := func() { r = consistency.Check(model, ops, timeout) }
	if s, err := session(thread); err == nil && s.Outside != nil {
		// On virtual time the clock stands still while the check
		// computes: its timeout and checked_in read the wall clock.
		s.Outside(check)
	} else {
		check()
	}
	if stepErr != nil && stepErr.err != nil {
		return nil, fmt.Errorf("%s: the model's step: %w", b.Name(), stepErr.err)
	}
	var valid starlark.Value = starlark.Bool(r.Verdict == consistency.Linearizable)
	if r.Verdict == consistency.Unknown {
		valid = starlark.String("unknown")
	}
	out := starlark.StringDict{
		"valid":      valid,
		"ops":        starlark.MakeInt(r.Ops),
		"checked_in": starlark.String(r.CheckedIn.Round(time.Microsecond).String()),
		"anomaly":    opList(r.Anomaly),
	}
	if r.Verdict == consistency.NotLinearizable {
		if s, err := session(thread); err == nil && s.Artifacts != "" {
			if path, err := s.writeLinearizability(r); err == nil {
				out["visualization"] = starlark.String(path)
			}
		}
	}
	d := starlark.NewDict(len(out))
	for _, k := range []string{"valid", "ops", "checked_in", "anomaly", "visualization"} {
		if v, ok := out[k]; ok {
			_ = d.SetKey(starlark.String(k), v)
		}
	}
	return d, nil
}

// writeLinearizability writes a failed check's page into the case's
// artifacts: linearizability.html, then -2, -3 for later ones.
func (s *Session) writeLinearizability(r consistency.Result) (string, error) {
	s.mu.Lock()
	s.linearizability++
	n := s.linearizability
	s.mu.Unlock()
	name := "linearizability.html"
	if n > 1 {
		name = fmt.Sprintf("linearizability-%d.html", n)
	}
	if err := os.MkdirAll(s.Artifacts, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(s.Artifacts, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := r.Visualize(f); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// starlarkStepError keeps the first error a Starlark model's functions
// raised during a check.
type starlarkStepError struct {
	mu  sync.Mutex
	err error
}

func (e *starlarkStepError) set(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// starlarkModel makes a model of struct(init=fn() -> state,
// step=fn(state, op) -> (ok, state)). The checker calls it from a
// goroutine of its own, so it runs on a thread of its own.
func starlarkModel(thread *starlark.Thread, fn string, s *starlarkstruct.Struct) (consistency.Model, *starlarkStepError, error) {
	attr := func(name string) (starlark.Callable, error) {
		v, err := s.Attr(name)
		if err != nil {
			return nil, fmt.Errorf("%s: model: struct has no %s (want struct(init=fn, step=fn))", fn, name)
		}
		c, ok := v.(starlark.Callable)
		if !ok {
			return nil, fmt.Errorf("%s: model: %s must be a function, got %s", fn, name, v.Type())
		}
		return c, nil
	}
	init, err := attr("init")
	if err != nil {
		return consistency.Model{}, nil, err
	}
	step, err := attr("step")
	if err != nil {
		return consistency.Model{}, nil, err
	}
	errs := &starlarkStepError{}
	seed := maphash.MakeSeed()
	worker := &starlark.Thread{Name: thread.Name + " (model)", Print: thread.Print}
	v0, err := starlark.Call(thread, init, nil, nil)
	if err != nil {
		return consistency.Model{}, nil, fmt.Errorf("%s: the model's init: %w", fn, err)
	}
	state0, err := newModelState(v0)
	if err != nil {
		return consistency.Model{}, nil, fmt.Errorf("%s: the model's init: %w", fn, err)
	}
	return consistency.Model{
		Name: "starlark",
		Init: func() any { return state0 },
		Step: func(state any, op consistency.Op) (bool, any) {
			v, err := starlark.Call(worker, step, starlark.Tuple{state.(modelState).v, opValue(op)}, nil)
			if err != nil {
				errs.set(err)
				return false, state
			}
			t, ok := v.(starlark.Tuple)
			if !ok || len(t) != 2 {
				errs.set(fmt.Errorf("step must return (ok, state), got %s", v.Type()))
				return false, state
			}
			next, err := newModelState(t[1])
			if err != nil {
				errs.set(err)
				return false, state
			}
			return bool(t[0].Truth()), next
		},
		Equal:         func(a, b any) bool { return a.(modelState).key == b.(modelState).key },
		Hash:          func(state any) uint64 { return maphash.String(seed, state.(modelState).key) },
		DescribeState: func(state any) string { return state.(modelState).v.String() },
	}, errs, nil
}

// modelState is a Starlark model's state with its canonical form: two
// states are equal when their forms are, which the checker compares
// often and fast.
type modelState struct {
	key string
	v   starlark.Value
}

func newModelState(v starlark.Value) (modelState, error) {
	v.Freeze()
	g, err := fromStarlark(v)
	if err != nil {
		return modelState{}, fmt.Errorf("state: %w", err)
	}
	b, err := json.Marshal(g)
	if err != nil {
		return modelState{}, fmt.Errorf("state: %w", err)
	}
	return modelState{key: string(b), v: v}, nil
}

func checkModel(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	name, err := a.String("name")
	if err != nil {
		return nil, err
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	if m, ok := s.Models[name]; ok {
		return &Model{m: m}, nil
	}
	names := make([]string, 0, len(s.Models))
	for n := range s.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no model %q: a program registers its Go models with scenariotest's Suite.AddModel, and they are there only in go test (use check.register, check.kv, ... or struct(init=, step=) elsewhere)", b.Name(), name)
	}
	return nil, fmt.Errorf("%s: no model %q; the program registers %s", b.Name(), name, strings.Join(names, ", "))
}

func checkUnique(_ *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	return fieldCheck(b, a, consistency.Unique)
}

func checkMonotonic(_ *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	return fieldCheck(b, a, consistency.Monotonic)
}

func fieldCheck(b *starlark.Builtin, a Args, check func([]consistency.Op, string, string) []consistency.Finding) (starlark.Value, error) {
	ops, err := historyOps(b.Name(), a.Value("history"))
	if err != nil {
		return nil, err
	}
	op, err := a.String("op")
	if err != nil {
		return nil, err
	}
	field, err := a.String("field")
	if err != nil {
		return nil, err
	}
	return findingsValue(check(ops, op, field)), nil
}

func checkSetFull(_ *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	ops, err := historyOps(b.Name(), a.Value("history"))
	if err != nil {
		return nil, err
	}
	var names [3]string
	for i, p := range []string{"add", "read", "element"} {
		if names[i], err = a.String(p); err != nil {
			return nil, err
		}
	}
	return findingsValue(consistency.SetFull(ops, names[0], names[1], names[2])), nil
}
