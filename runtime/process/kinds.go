package process

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// kind is a process kind: the type it is listed as and a constructor of
// its behaviour (nil for a task, which has none).
type kind struct {
	name string
	typ  string
	new  func() behaviour
}

// builtinKinds is the one list of the process kinds a node runs.
func builtinKinds() []kind {
	return []kind{
		{KindEcho, TypeGenServer, func() behaviour { return echoState{} }},
		{KindCounter, TypeGenServer, func() behaviour { return &counterState{} }},
		{KindKV, TypeGenServer, func() behaviour { return &kvState{m: map[string]any{}} }},
		{KindSleeper, TypeTask, nil},
		{KindSupervisor, TypeSupervisor, func() behaviour { return supState{} }},
	}
}

// Kinds returns the names of the kinds a process can be spawned as.
func Kinds() []string {
	var names []string
	for _, k := range builtinKinds() {
		names = append(names, k.name)
	}
	return names
}

// lookupKind returns the kind named name.
func lookupKind(name string) (kind, error) {
	for _, k := range builtinKinds() {
		if k.name == name {
			return k, nil
		}
	}
	return kind{}, errcode.Errorf(errcode.Validation, "kind: must be one of %s, got %s", quoteAll(Kinds()), repr(name))
}

// behaviour is a gen_server's state and callbacks. handle runs on the
// process's goroutine with p.mu held; size may be called from any
// goroutine with p.mu held.
type behaviour interface {
	handle(p *process, e envelope) (reply any, err error)
	size() int64
	summary() map[string]any
}

type echoState struct{}

func (echoState) handle(_ *process, e envelope) (any, error) { return e.msg, nil }
func (echoState) size() int64                                { return 0 }
func (echoState) summary() map[string]any                    { return map[string]any{} }

type counterState struct{ count int64 }

func (c *counterState) handle(_ *process, e envelope) (any, error) {
	if e.kind == MsgCall && e.msg == "get" {
		return c.count, nil
	}
	c.count++
	return c.count, nil
}
func (c *counterState) size() int64             { return int64(unsafe.Sizeof(*c)) }
func (c *counterState) summary() map[string]any { return map[string]any{"count": c.count} }

// kvState keeps its byte estimate up to date on every change, so measuring
// a large map costs nothing.
type kvState struct {
	m     map[string]any
	bytes int64
}

const kvUsage = `kv accepts {"put": [key, value]}, {"get": key}, {"delete": key}, "keys" or "size"`

func (s *kvState) handle(_ *process, e envelope) (any, error) {
	bad := func() (any, error) {
		return nil, errcode.Errorf(errcode.Validation, "message: %s, got %s", kvUsage, repr(e.msg))
	}
	switch m := e.msg.(type) {
	case string:
		switch m {
		case "keys":
			return slices.Sorted(maps.Keys(s.m)), nil
		case "size":
			return len(s.m), nil
		}
		return bad()
	case map[string]any:
		if len(m) != 1 {
			return bad()
		}
		if a, ok := m["put"]; ok {
			kv, ok := a.([]any)
			if !ok || len(kv) != 2 {
				return bad()
			}
			k, ok := kv[0].(string)
			if !ok {
				return bad()
			}
			if old, ok := s.m[k]; ok {
				s.bytes -= approxSize(k) + approxSize(old)
			}
			s.m[k] = kv[1]
			s.bytes += approxSize(k) + approxSize(kv[1])
			return "ok", nil
		}
		if a, ok := m["get"]; ok {
			k, ok := a.(string)
			if !ok {
				return bad()
			}
			return s.m[k], nil
		}
		if a, ok := m["delete"]; ok {
			k, ok := a.(string)
			if !ok {
				return bad()
			}
			old, had := s.m[k]
			if had {
				s.bytes -= approxSize(k) + approxSize(old)
				delete(s.m, k)
			}
			return had, nil
		}
	}
	return bad()
}
func (s *kvState) size() int64             { return s.bytes }
func (s *kvState) summary() map[string]any { return map[string]any{"size": len(s.m)} }

// supState is a one_for_one supervisor's behaviour; its children live in
// the table (they change under the table's lock).
type supState struct{}

func (supState) handle(p *process, e envelope) (any, error) {
	switch e.msg {
	case "which_children":
		return p.t.childrenInfo(p), nil
	case "count_children":
		return len(p.t.childrenInfo(p)), nil
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a supervisor answers "which_children" and "count_children", got %s`, repr(e.msg))
}
func (supState) size() int64             { return 0 }
func (supState) summary() map[string]any { return map[string]any{"strategy": "one_for_one"} }

// quoteAll quotes every string and joins them with commas.
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
