// Package scenario finds, checks and runs scenario files: one case per
// test_* function (or the file's top level), each with its own Session,
// timeout and teardown, reported line by line as cases finish.
package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// Discover expands paths into scenario files: *.star files, directories
// searched recursively, in a stable order. A missing path is an error.
func Discover(paths []string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: no such file or directory", p)
		}
		if !info.IsDir() {
			add(p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".star") && !isLibrary(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		sort.Strings(found)
		for _, f := range found {
			add(f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no scenario files (*.star) in %s", strings.Join(paths, ", "))
	}
	return files, nil
}

// isLibrary reports whether a file under a lib/ directory is meant to be
// load()ed rather than run.
func isLibrary(path string) bool {
	return strings.Contains(filepath.ToSlash(path), "/lib/")
}

// Check parses and resolves a file and everything it loads, and returns
// every error found, each with file:line:col: syntax errors, undefined
// names, misuses of builtins visible without running (see lint), and load
// cycles, which Starlark could only fail at run time; for nodes that serve
// ops (nil: the built-in operations).
func Check(file string, ops []arsenal.OpSpec) []error {
	return check(filepath.Clean(file), ops, map[string]bool{}, nil)
}

// check checks file; loading lists the files whose loads led here, so a
// load back into one of them is reported as a cycle.
func check(file string, ops []arsenal.OpSpec, visited map[string]bool, loading []string) []error {
	if visited[file] {
		return nil
	}
	visited[file] = true
	src, err := os.ReadFile(file)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", file, err)}
	}
	f, _, err := starlark.SourceProgramOptions(builtins.FileOptions, file, src, builtins.IsPredeclared)
	if err != nil {
		return flatten(err)
	}
	loading = append(loading, file)
	errs := lint(f, ops)
	for _, stmt := range f.Stmts {
		if load, ok := stmt.(*syntax.LoadStmt); ok {
			target := resolveLoad(file, load.ModuleName())
			pos := load.Module.TokenPos
			if i := slices.Index(loading, target); i >= 0 {
				cycle := append(slices.Clone(loading[i:]), target)
				errs = append(errs, fmt.Errorf("%s: load: cycle in load graph: %s", pos, strings.Join(cycle, " loads ")))
				continue
			}
			fi, err := os.Stat(target)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: load: cannot find %q (looked for %s)", pos, load.ModuleName(), target))
				continue
			}
			if !fi.Mode().IsRegular() {
				// /dev/zero would be read forever.
				errs = append(errs, fmt.Errorf("%s: load: %s is not a regular file", pos, target))
				continue
			}
			errs = append(errs, check(target, ops, visited, loading)...)
		}
	}
	return errs
}

func flatten(err error) []error {
	var list resolve.ErrorList
	if errors.As(err, &list) {
		out := make([]error, len(list))
		for i, e := range list {
			out[i] = e
		}
		return out
	}
	return []error{err}
}

// resolveLoad resolves a load() path relative to the loading file.
func resolveLoad(from, module string) string {
	if filepath.IsAbs(module) {
		return module
	}
	return filepath.Join(filepath.Dir(from), module)
}

// TopLevel names the case of a file without test_* functions: its top
// level. A file with them reports its top level under this name only when
// it fails.
const TopLevel = "(top level)"

// Cases returns the names of a file's cases, in the order they run: its
// test_* functions, or TopLevel alone for a file without them.
func Cases(file string) ([]string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	names, err := cases(file, src)
	if err == nil && len(names) == 0 {
		names = []string{TopLevel}
	}
	return names, err
}

// cases returns the names of the test_* functions a file defines, in
// definition order.
func cases(file string, src []byte) ([]string, error) {
	f, err := FileOptions().Parse(file, src, 0)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, stmt := range f.Stmts {
		if def, ok := stmt.(*syntax.DefStmt); ok && strings.HasPrefix(def.Name.Name, "test_") {
			names = append(names, def.Name.Name)
		}
	}
	return names, nil
}

// FileOptions returns the dialect scenarios are parsed with.
func FileOptions() *syntax.FileOptions { return builtins.FileOptions }
