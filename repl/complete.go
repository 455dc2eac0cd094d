package repl

import (
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// keywords are offered at the start of an expression, next to names.
var keywords = []string{"and", "break", "continue", "def", "elif", "else", "for", "if", "in", "lambda", "load", "not", "or", "pass", "return", "while"}

// Completer completes names and members for readline: top-level names
// from the session's globals (every builtin of builtins.Docs among them)
// and the universe, and members after a dot from the value's AttrNames.
type Completer struct {
	// Globals returns the names bound in the session. It is called on
	// each Tab.
	Globals func() starlark.StringDict
}

// Do implements readline.AutoCompleter: it returns the suffixes that
// complete the word before pos, and the length of that word.
func (c *Completer) Do(line []rune, pos int) ([][]rune, int) {
	if pos > len(line) {
		pos = len(line)
	}
	start := pos
	for start > 0 && isWordRune(line[start-1]) {
		start--
	}
	word := string(line[start:pos])
	var candidates []string
	prefix := word
	if i := strings.LastIndexByte(word, '.'); i >= 0 {
		prefix = word[i+1:]
		candidates = c.members(word[:i])
	} else {
		candidates = c.names()
	}
	var out [][]rune
	seen := map[string]bool{}
	for _, cand := range candidates {
		if strings.HasPrefix(cand, prefix) && !seen[cand] {
			seen[cand] = true
			out = append(out, []rune(cand[len(prefix):]))
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i]) < string(out[j]) })
	return out, len([]rune(prefix))
}

// Candidates returns the full completions of the word before the end of
// line (for tests and help).
func (c *Completer) Candidates(line string) []string {
	r := []rune(line)
	sufs, _ := c.Do(r, len(r))
	start := len(r)
	for start > 0 && isWordRune(r[start-1]) {
		start--
	}
	word := string(r[start:])
	out := make([]string, len(sufs))
	for i, s := range sufs {
		out[i] = word + string(s)
	}
	return out
}

func isWordRune(r rune) bool {
	return r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func (c *Completer) names() []string {
	var out []string
	for name := range c.Globals() {
		out = append(out, name)
	}
	for name := range starlark.Universe {
		out = append(out, name)
	}
	return append(out, keywords...)
}

// members resolves a dotted path of names (no calls: completion must never
// touch a cluster) and returns the attribute names of its value.
func (c *Completer) members(path string) []string {
	parts := strings.Split(path, ".")
	for _, p := range parts {
		if p == "" || !isIdent(p) {
			return nil
		}
	}
	v, ok := c.Globals()[parts[0]]
	if !ok {
		v, ok = starlark.Universe[parts[0]]
	}
	if !ok {
		return nil
	}
	for _, p := range parts[1:] {
		ha, ok := v.(starlark.HasAttrs)
		if !ok {
			return nil
		}
		next, err := ha.Attr(p)
		if err != nil || next == nil {
			return nil
		}
		v = next
	}
	ha, ok := v.(starlark.HasAttrs)
	if !ok {
		return nil
	}
	return ha.AttrNames()
}

func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !isWordRune(r) || r == '.' {
			return false
		}
	}
	for _, k := range keywords {
		if s == k {
			return false
		}
	}
	return true
}
