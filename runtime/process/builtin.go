package process

import (
	"context"
	"maps"
	"slices"
	"unsafe"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// Builtin returns the built-in kinds, described with the same Kind a
// program uses for its own (see the package comment for what each does).
func Builtin() []Kind {
	return []Kind{
		{Name: KindEcho, State: "{}", Messages: []MessageDoc{
			{"anything", "the message itself; a send or cast is echoed back to its sender (delivered when the sender is a pid on the same node, traced in any case)"},
		}, Init: func(*Self) (Behaviour, error) { return echoState{}, nil }},
		{Name: KindCounter, State: "{count}", Messages: []MessageDoc{
			{`"get" as a call`, "the count, unchanged"},
			{"anything else (a send or cast of \"get\" included)", "adds one to the count; a call answers the new count"},
		}, Init: func(*Self) (Behaviour, error) { return &counterState{}, nil }},
		{Name: KindKV, State: "{size}", Messages: []MessageDoc{
			{`{"put": [key, value]}`, `"ok"; key is a string, value any message value`},
			{`{"get": key}`, "the value, or None when the key is absent"},
			{`{"delete": key}`, "True if the key was there (and is now removed), else False"},
			{`"keys"`, "the sorted list of keys"},
			{`"size"`, "the number of keys"},
			{"anything else", "a call fails with validation_error naming what kv accepts; a send or cast is received and dropped"},
		}, Init: func(*Self) (Behaviour, error) { return &kvState{m: map[string]any{}}, nil }},
		{Name: KindDiskLog, State: "{length}", Messages: []MessageDoc{
			{`{"append": value}`, "adds value to the log in the node's data directory, kept across the node's kill and restart; the log's new length"},
			{`"read"`, "every value appended, oldest first"},
			{"anything else", "a call fails with validation_error"},
		}, Init: newDiskLog},
		{Name: KindSleeper, Type: TypeTask, State: "{}", Messages: []MessageDoc{
			{"anything", "never read: message_queue_len grows with each one, and a call times out"},
		}, Init: func(*Self) (Behaviour, error) { return sleeper{}, nil }},
		{Name: KindSupervisor, Type: TypeSupervisor, State: `{strategy: "one_for_one"}`, Messages: []MessageDoc{
			{`"which_children"`, "a list of its children, each {pid, name, type, restart}"},
			{`"count_children"`, "the number of children"},
			{"anything else", "a call fails with validation_error"},
		}, Init: func(*Self) (Behaviour, error) { return supState{}, nil }},
	}
}

type echoState struct{}

func (echoState) Handle(self *Self, m Message) (any, error) {
	if m.Kind != MsgCall {
		self.Send(m.From, m.Body)
	}
	return m.Body, nil
}

type counterState struct{ count int64 }

func (c *counterState) Handle(_ *Self, m Message) (any, error) {
	if m.Kind == MsgCall && m.Body == "get" {
		return c.count, nil
	}
	c.count++
	return c.count, nil
}
func (c *counterState) Size() int64           { return int64(unsafe.Sizeof(*c)) }
func (c *counterState) State() map[string]any { return map[string]any{"count": c.count} }

// kvState keeps its byte estimate up to date on every change, so measuring
// a large map costs nothing.
type kvState struct {
	m     map[string]any
	bytes int64
}

const kvUsage = `kv accepts {"put": [key, value]}, {"get": key}, {"delete": key}, "keys" or "size"`

func (s *kvState) Handle(_ *Self, msg Message) (any, error) {
	bad := func() (any, error) {
		return nil, errcode.Errorf(errcode.Validation, "message: %s, got %s", kvUsage, repr(msg.Body))
	}
	switch m := msg.Body.(type) {
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
func (s *kvState) Size() int64           { return s.bytes }
func (s *kvState) State() map[string]any { return map[string]any{"size": len(s.m)} }

// sleeper is a task that waits to be killed.
type sleeper struct{}

func (sleeper) Run(ctx context.Context, _ *Self) error {
	<-ctx.Done()
	return nil
}

// supState is a one_for_one supervisor's behaviour; its children live in
// the table (they change under the table's lock).
type supState struct{}

func (supState) Handle(self *Self, m Message) (any, error) {
	switch m.Body {
	case "which_children":
		return self.Children(), nil
	case "count_children":
		return len(self.Children()), nil
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a supervisor answers "which_children" and "count_children", got %s`, repr(m.Body))
}
func (supState) State() map[string]any { return map[string]any{"strategy": "one_for_one"} }
