package node_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const (
	module = "github.com/clusterscript/clusterscript/"
	engine = module + "runtime/"
)

// deps returns the packages pkg imports, directly or not.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	all := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		all[d] = true
	}
	if len(all) < 2 {
		t.Fatalf("go list %s listed nothing: %s", pkg, out)
	}
	return all
}

// TestLayering keeps the engine's arrows pointing one way, so the rules in
// the package doc cannot rot: the lower packages never import the higher
// ones, and nothing in the engine imports Starlark or the composing root.
func TestLayering(t *testing.T) {
	everyEngineRule := []string{"go.starlark.net", engine + "node", "github.com/clusterscript/clusterscript/builtins", "github.com/clusterscript/clusterscript/cluster"}
	rules := map[string][]string{
		"errcode":    {engine + "transport", engine + "rpc", engine + "membership", engine + "process", engine + "arsenal", engine + "horde"},
		"transport":  {engine + "rpc", engine + "membership", engine + "process", engine + "arsenal", engine + "horde"},
		"rpc":        {engine + "membership", engine + "process", engine + "arsenal", engine + "horde"},
		"membership": {engine + "rpc", engine + "transport", engine + "process", engine + "arsenal", engine + "horde"},
		"process":    {engine + "rpc", engine + "transport", engine + "membership", engine + "arsenal", engine + "horde", "github.com/hashicorp/memberlist", "net"},
		"arsenal":    {engine + "horde"},
		"horde":      nil,
		"control":    {engine + "process", engine + "arsenal", engine + "horde"},
		"observe":    {engine + "errcode", engine + "transport", engine + "rpc", engine + "membership", engine + "process", engine + "arsenal", engine + "horde", "github.com/hashicorp/memberlist"},
	}
	for pkg, forbidden := range rules {
		all := deps(t, engine+pkg)
		for _, f := range append(forbidden, everyEngineRule...) {
			if all[f] {
				t.Errorf("%s imports %s (directly or not): the engine's arrows must point one way", pkg, f)
			}
		}
	}
}

// TestRunnerArrows keeps the runner out of what does not need it: a
// service's binary (package agent, and the example's) links the engine
// and the agent entry point, none of the runner; the configuration file's
// parser knows nothing of Starlark; the history knows nothing of the
// cluster that records it.
func TestRunnerArrows(t *testing.T) {
	runner := []string{module + "cluster", module + "history", module + "sim", module + "builtins", module + "scenario", module + "repl", "go.starlark.net/starlark"}
	rules := map[string][]string{
		module + "agent":                     runner,
		module + "examples/lease/cmd/leased": runner,
		module + "config":                    {module + "builtins", module + "scenario", "go.starlark.net/starlark"},
		module + "history":                   {module + "cluster", module + "builtins", module + "sim"},
		module + "history/timeline":          {module + "cluster", module + "builtins", module + "sim"},
		engine + "control":                   {engine + "node", engine + "process", engine + "arsenal", engine + "horde"},
	}
	for pkg, forbidden := range rules {
		all := deps(t, pkg)
		for _, f := range forbidden {
			for d := range all {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s (directly or not)", pkg, d)
				}
			}
		}
	}
}
