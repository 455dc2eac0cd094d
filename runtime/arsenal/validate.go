package arsenal

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Validate checks params against spec and returns them with defaults
// filled in. Every operation's parameters, and a spawn's, are checked by
// this one function from their description and nothing else.
func Validate(spec OpSpec, params map[string]any) (Args, error) {
	known := map[string]bool{}
	var names []string
	for _, p := range spec.Params {
		known[p.Name] = true
		names = append(names, p.Name)
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !known[k] {
			takes := "no parameters"
			if len(names) > 0 {
				takes = strings.Join(names, ", ")
			}
			return nil, errcode.Errorf(errcode.Validation, "%s: unknown parameter of %s (it takes %s)", k, spec.Name, takes)
		}
	}
	args := Args{}
	for _, p := range spec.Params {
		v, given := params[p.Name]
		if !given {
			if p.Required {
				return nil, errcode.Errorf(errcode.Validation, "%s: is required (%s), got nothing", p.Name, describeParam(p))
			}
			v = p.Default
			if v == nil {
				args[p.Name] = nil
				continue
			}
		}
		cv, err := convertParam(p, v)
		if err != nil {
			return nil, err
		}
		args[p.Name] = cv
	}
	return args, nil
}

// describeParam says what a parameter accepts, for error messages.
func describeParam(p ParamSpec) string {
	var s string
	switch p.Type {
	case "bool":
		s = "must be a bool"
	case "int":
		switch {
		case p.Min != nil && p.Max != nil:
			s = fmt.Sprintf("must be an integer from %v to %v", p.Min, p.Max)
		case p.Min != nil:
			s = fmt.Sprintf("must be an integer of at least %v", p.Min)
		default:
			s = "must be an integer"
		}
	case "duration":
		s = `must be a duration such as "5s"`
		switch {
		case p.Min != nil && p.Max != nil:
			s += fmt.Sprintf(" from %v to %v", p.Min, p.Max)
		case p.Min != nil:
			s += fmt.Sprintf(" of at least %v", p.Min)
		case p.Max != nil:
			s += fmt.Sprintf(" of at most %v", p.Max)
		}
	case "pid":
		s = `must be a pid such as "<n2.1.17>"`
	case "list":
		s = "must be a list of strings"
		if len(p.Allowed) > 0 {
			s += " among " + quoteAll(p.Allowed)
		}
	case "string", "kind":
		switch {
		case len(p.Allowed) > 0:
			s = "must be one of " + quoteAll(p.Allowed)
		case p.Empty:
			s = "must be a string"
		default:
			s = "must be a non-empty string"
		}
	default:
		s = "must be given a value other than null"
	}
	if p.Nullable {
		s += " or null"
	}
	return s
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func invalid(p ParamSpec, v any) *errcode.Error {
	return errcode.Errorf(errcode.Validation, "%s: %s, got %s", p.Name, describeParam(p), reprParam(v))
}

// reprParam shows a given value as the user wrote it, its beginning and
// size when it is long: a refusal must not echo megabytes.
func reprParam(v any) string {
	s := fullRepr(v)
	if len(s) > maxRepr {
		return fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:maxRepr], ""), len(s))
	}
	return s
}

// maxRepr bounds how much of a refused value an error shows.
const maxRepr = 200

func fullRepr(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case []any, map[string]any, []string:
		b, err := json.Marshal(x)
		if err == nil {
			return string(b)
		}
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

// asInt accepts Go integers, integral floats and JSON numbers.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	}
	return 0, false
}

// durationBound reads a duration's Min or Max.
func durationBound(b any) (time.Duration, bool) {
	s, ok := b.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

func convertParam(p ParamSpec, v any) (any, error) {
	if v == nil {
		if p.Nullable {
			return nil, nil
		}
		return nil, invalid(p, v)
	}
	switch p.Type {
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, invalid(p, v)
		}
		return b, nil
	case "int":
		i, ok := asInt(v)
		if !ok {
			return nil, invalid(p, v)
		}
		if lo, ok := asInt(p.Min); ok && i < lo {
			return nil, invalid(p, v)
		}
		if hi, ok := asInt(p.Max); ok && i > hi {
			return nil, invalid(p, v)
		}
		return int(i), nil
	case "duration":
		var d time.Duration
		switch x := v.(type) {
		case time.Duration:
			d = x
		case string:
			var err error
			if d, err = time.ParseDuration(x); err != nil {
				return nil, invalid(p, v)
			}
		default:
			return nil, invalid(p, v)
		}
		if lo, ok := durationBound(p.Min); ok && d < lo {
			return nil, invalid(p, v)
		}
		if hi, ok := durationBound(p.Max); ok && d > hi {
			return nil, invalid(p, v)
		}
		return d, nil
	case "pid":
		s, ok := v.(string)
		if !ok {
			return nil, invalid(p, v)
		}
		if _, ok := process.ParsePID(s); !ok {
			return nil, invalid(p, v)
		}
		return s, nil
	case "string", "kind":
		s, ok := v.(string)
		if !ok || s == "" && !p.Empty {
			return nil, invalid(p, v)
		}
		if len(p.Allowed) > 0 && !slices.Contains(p.Allowed, s) {
			return nil, invalid(p, v)
		}
		return s, nil
	case "list":
		var items []string
		switch x := v.(type) {
		case []string:
			items = x
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, invalid(p, v)
				}
				items = append(items, s)
			}
		default:
			return nil, invalid(p, v)
		}
		for _, s := range items {
			if len(p.Allowed) > 0 && !slices.Contains(p.Allowed, s) {
				return nil, errcode.Errorf(errcode.Validation, "%s: %s, got %s (unknown %q)", p.Name, describeParam(p), reprParam(v), s)
			}
		}
		if items == nil {
			items = []string{}
		}
		return items, nil
	}
	return v, nil
}

// paramTypes are the types a ParamSpec may have.
var paramTypes = []string{"bool", "int", "string", "duration", "pid", "kind", "list", "any"}

// CheckSpec reports what is wrong with an operation's description, so a
// program's mistake shows when it registers the operation, not when a
// scenario first calls it: a name or parameter name that is not
// lower_snake_case, a parameter given twice, an unknown type, a required
// parameter with a default, bounds on a type that has none or that do not
// parse, and a default its own parameter would refuse.
func CheckSpec(s OpSpec) error {
	if !process.IsSnakeName(s.Name) {
		return fmt.Errorf("operation %q: the name must be lower case letters, digits and underscores, starting with a letter", s.Name)
	}
	if s.Summary == "" {
		return fmt.Errorf("operation %s: a summary is required (arsenal.describe and clusterscript ops show it)", s.Name)
	}
	seen := map[string]bool{}
	for _, p := range s.Params {
		where := fmt.Sprintf("operation %s: parameter %q", s.Name, p.Name)
		if !process.IsSnakeName(p.Name) {
			return fmt.Errorf("%s: the name must be lower case letters, digits and underscores, starting with a letter", where)
		}
		if seen[p.Name] {
			return fmt.Errorf("%s is given twice", where)
		}
		seen[p.Name] = true
		if !slices.Contains(paramTypes, p.Type) {
			return fmt.Errorf("%s: type must be one of %s, got %q", where, strings.Join(paramTypes, ", "), p.Type)
		}
		if p.Required && p.Default != nil {
			return fmt.Errorf("%s: a required parameter has no default", where)
		}
		if p.Empty && p.Type != "string" {
			return fmt.Errorf("%s: Empty (accept \"\") is for strings, not type %s", where, p.Type)
		}
		for _, b := range []any{p.Min, p.Max} {
			if b == nil {
				continue
			}
			switch p.Type {
			case "int":
				if _, ok := asInt(b); !ok {
					return fmt.Errorf("%s: bounds of an int are integers, got %v", where, b)
				}
			case "duration":
				if _, ok := durationBound(b); !ok {
					return fmt.Errorf("%s: bounds of a duration are strings such as \"1ms\", got %v", where, b)
				}
			default:
				return fmt.Errorf("%s: a %s has no bounds (Min and Max bound ints and durations)", where, p.Type)
			}
		}
		if p.Default != nil && !(p.Type == "kind" && len(p.Allowed) == 0) {
			if _, err := convertParam(p, p.Default); err != nil {
				return fmt.Errorf("operation %s: the default of %s is invalid: %v", s.Name, p.Name, err)
			}
		}
	}
	return nil
}

// ResolveKinds returns spec with the allowed values of its kind
// parameters set to kinds, the kinds the node runs.
func ResolveKinds(spec OpSpec, kinds []string) OpSpec {
	params := slices.Clone(spec.Params)
	for i, p := range params {
		if p.Type == "kind" {
			params[i].Allowed = slices.Clone(kinds)
		}
	}
	spec.Params = params
	return spec
}
