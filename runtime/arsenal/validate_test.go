package arsenal_test

import (
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// A string parameter is non-empty unless its description allows "": a
// prefix filter may well be empty, a key may not.
func TestAStringParameterMayAllowTheEmptyString(t *testing.T) {
	spec := arsenal.OpSpec{
		Name:    "kv_scan",
		Summary: "keys with a prefix",
		Params: []arsenal.ParamSpec{
			{Name: "prefix", Type: "string", Empty: true, Default: "", Doc: "keys starting with it (\"\": every key)"},
			{Name: "table", Type: "string", Default: "main", Doc: "the table"},
		},
	}
	if err := arsenal.CheckSpec(spec); err != nil {
		t.Fatal(err)
	}
	args, err := arsenal.Validate(spec, map[string]any{"prefix": ""})
	if err != nil || args.String("prefix") != "" {
		t.Fatalf("prefix \"\": %v %v", args, err)
	}
	if _, err := arsenal.Validate(spec, map[string]any{"table": ""}); err == nil || !strings.Contains(err.Error(), `table: must be a non-empty string, got ""`) {
		t.Fatalf("table \"\": %v, want it refused", err)
	}
	if _, err := arsenal.Validate(spec, map[string]any{"prefix": 3}); err == nil || !strings.Contains(err.Error(), "prefix: must be a string, got 3") {
		t.Fatalf("prefix 3: %v", err)
	}
	spec.Params[1] = arsenal.ParamSpec{Name: "limit", Type: "int", Empty: true, Default: 10}
	if err := arsenal.CheckSpec(spec); err == nil || !strings.Contains(err.Error(), `parameter "limit": Empty (accept "") is for strings, not type int`) {
		t.Fatalf("Empty on an int: %v, want it refused at registration", err)
	}
}
