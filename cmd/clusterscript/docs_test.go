package main

import (
	"os"
	"testing"

	"github.com/clusterscript/clusterscript/builtins"
)

// docs/reference.md is `clusterscript docs`. Regenerate it with
//
//	go run ./cmd/clusterscript docs > docs/reference.md
func TestReferenceIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != builtins.Reference(nil, nil) {
		t.Fatal("docs/reference.md is stale: run `go run ./cmd/clusterscript docs > docs/reference.md`")
	}
}
