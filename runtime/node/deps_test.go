package node_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const engine = "github.com/clusterscript/clusterscript/runtime/"

// TestLayering keeps the engine's arrows pointing one way, so the rules in
// the package doc cannot rot: the lower packages never import the higher
// ones, and nothing in the engine imports Starlark or the composing root.
func TestLayering(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	everyEngineRule := []string{"go.starlark.net", engine + "node", "github.com/clusterscript/clusterscript/builtins", "github.com/clusterscript/clusterscript/cluster"}
	rules := map[string][]string{
		"errcode":    {engine + "transport", engine + "rpc", engine + "membership", engine + "process", engine + "arsenal", engine + "horde"},
		"transport":  {engine + "rpc", engine + "membership", engine + "process", engine + "arsenal", engine + "horde"},
		"rpc":        {engine + "membership", engine + "process", engine + "arsenal", engine + "horde"},
		"membership": {engine + "rpc", engine + "transport", engine + "process", engine + "arsenal", engine + "horde"},
		"process":    {engine + "rpc", engine + "transport", engine + "membership", engine + "arsenal", engine + "horde", "github.com/hashicorp/memberlist", "net"},
		"arsenal":    {engine + "horde"},
		"horde":      nil,
		"observe":    {engine + "errcode", engine + "transport", engine + "rpc", engine + "membership", engine + "process", engine + "arsenal", engine + "horde", "github.com/hashicorp/memberlist"},
	}
	for pkg, forbidden := range rules {
		out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", engine+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		if len(deps) < 2 {
			t.Fatalf("go list %s listed nothing: %s", pkg, out)
		}
		for _, f := range append(forbidden, everyEngineRule...) {
			if deps[f] {
				t.Errorf("%s imports %s (directly or not): the engine's arrows must point one way", pkg, f)
			}
		}
	}
}
