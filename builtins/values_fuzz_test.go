package builtins

import (
	"encoding/json"
	"math"
	"testing"

	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
)

// buildValue builds a Starlark value from program: a small stack machine
// whose instructions push scalars, wrap the top of the stack in lists,
// tuples and dicts, and append one stack entry into another, so that
// values can nest deeply, share parts and contain themselves.
func buildValue(program []byte) starlark.Value {
	var stack []starlark.Value
	top := func(k int) starlark.Value { return stack[len(stack)-1-k%len(stack)] }
	for i := 0; i < len(program); i++ {
		op, arg := program[i]%10, 0
		if i+1 < len(program) {
			arg = int(program[i+1])
		}
		switch op {
		case 0:
			stack = append(stack, starlark.MakeInt(arg-128))
		case 1:
			stack = append(stack, starlark.String(string(program[i:min(len(program), i+1+arg%8)])))
		case 2:
			f := float64(arg) / 7
			if arg == 255 {
				f = math.NaN()
			}
			stack = append(stack, starlark.Float(f))
		case 3:
			stack = append(stack, starlark.None, starlark.Bool(arg%2 == 0))
		case 4: // a list of the top n
			n := min(arg%4, len(stack))
			stack = append(stack[:len(stack)-n], starlark.NewList(append([]starlark.Value(nil), stack[len(stack)-n:]...)))
		case 5: // a tuple of the top n
			n := min(arg%4, len(stack))
			stack = append(stack[:len(stack)-n], append(starlark.Tuple(nil), stack[len(stack)-n:]...))
		case 6: // a dict of the top value under a key
			if len(stack) > 0 {
				d := starlark.NewDict(1)
				var key starlark.Value = starlark.String(string(rune('a' + arg%26)))
				if arg%5 == 0 {
					key = starlark.MakeInt(arg) // not a string: refused
				}
				_ = d.SetKey(key, top(0))
				stack = append(stack, d)
			}
		case 7: // append one entry into a list below it, possibly itself
			if len(stack) > 0 {
				if l, ok := top(arg).(*starlark.List); ok {
					_ = l.Append(top(0))
				}
			}
		case 8: // repeat a string: big values
			if len(stack) > 0 {
				if s, ok := top(0).(starlark.String); ok && len(s) < 1<<16 {
					stack[len(stack)-1] = starlark.String(string(s) + string(s) + string(s) + string(s))
				}
			}
		case 9:
			stack = append(stack, startime.Duration(arg)*1000000, starlark.NewSet(1))
		}
		i++
	}
	if len(stack) == 0 {
		return starlark.None
	}
	return stack[len(stack)-1]
}

// FuzzFromStarlark: any value a script can build converts to JSON-ready
// data or is refused with an error; it never overflows the stack, and
// what it accepts is within the limits and marshals.
func FuzzFromStarlark(f *testing.F) {
	f.Add([]byte{0, 5, 1, 3, 4, 2})       // [int, "str"]
	f.Add([]byte{4, 0, 7, 0})             // a list that contains itself
	f.Add([]byte{4, 0, 6, 1, 7, 1})       // a list inside a dict inside the list
	f.Add([]byte{1, 7, 8, 0, 8, 0, 8, 0}) // a string quadrupled
	f.Add([]byte{9, 1, 5, 2})             // a duration and a set
	f.Add([]byte{2, 255, 4, 1})           // [NaN]
	f.Fuzz(func(t *testing.T, program []byte) {
		v, err := fromStarlark(buildValue(program))
		if err != nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted a value JSON cannot encode: %v", err)
		}
		if len(b) > 8*MaxValueBytes {
			t.Fatalf("accepted %d bytes of JSON", len(b))
		}
	})
}
