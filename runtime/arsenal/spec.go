package arsenal

import (
	"slices"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// ParamSpec describes one parameter of an operation.
type ParamSpec struct {
	Name string `json:"name"`
	// Type is bool, int, string, duration (a string such as "5s"), pid
	// (a string such as "<n2.1.17>"), kind (the name of a process kind the
	// node runs: a string whose allowed values the registry fills in),
	// list (of strings) or any.
	Type string `json:"type"`
	// Default is the value used when the parameter is not given (nil for
	// none). A required parameter has none.
	Default  any  `json:"default"`
	Required bool `json:"required"`
	// Nullable reports that null (None in a scenario) is accepted.
	Nullable bool `json:"nullable"`
	// Empty reports that a string parameter accepts "" (it must be
	// non-empty otherwise).
	Empty bool `json:"empty,omitempty"`
	// Min and Max bound ints (numbers) and durations (strings such as
	// "1ms"), inclusive; either may be left out.
	Min any `json:"min,omitempty"`
	Max any `json:"max,omitempty"`
	// Allowed lists the accepted strings (for a list, its items).
	Allowed []string `json:"allowed,omitempty"`
	Doc     string   `json:"doc"`
}

// ResultField describes one field of an operation's result.
type ResultField struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

// OpSpec describes an operation.
type OpSpec struct {
	Name    string        `json:"name"`
	Summary string        `json:"summary"`
	Params  []ParamSpec   `json:"params"`
	Results []ResultField `json:"results"`
	// Definite lists the operation's own error codes that mean it took
	// no effect. A workload records a call failing with one of them, or
	// with one of the engine's definite codes (IsDefinite), as fail; any
	// other failure (a timeout, a node unreachable) as info: it may or
	// may not have taken effect.
	Definite []string `json:"definite,omitempty"`
}

// IsDefinite reports whether a failure with code means the operation
// took no effect: one of the engine's codes for a call refused before it
// ran, or one of the operation's Definite codes.
func (s OpSpec) IsDefinite(code string) bool {
	switch code {
	case errcode.Validation, errcode.OperationNotFound, errcode.NodeNotFound, errcode.ProcessNotFound,
		errcode.Protection, errcode.ResourceExhausted, errcode.CookieMismatch:
		return true
	}
	return slices.Contains(s.Definite, code)
}

// Args are an operation's validated parameters, defaults filled in.
type Args map[string]any

// Bool returns a bool parameter.
func (a Args) Bool(name string) bool { b, _ := a[name].(bool); return b }

// Int returns an int parameter (ok false when it is null).
func (a Args) Int(name string) (int, bool) { i, ok := a[name].(int); return i, ok }

// String returns a string parameter ("" when it is null).
func (a Args) String(name string) string { s, _ := a[name].(string); return s }

// Duration returns a duration parameter.
func (a Args) Duration(name string) time.Duration { d, _ := a[name].(time.Duration); return d }

// Strings returns a list parameter (nil when it is null).
func (a Args) Strings(name string) []string { s, _ := a[name].([]string); return s }
