package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheck: check reports any source's errors, each with the file's
// name, and never panics.
func FuzzCheck(f *testing.F) {
	for _, name := range []string{"arsenal.star", "faults.star", "horde.star", "partitions.star"} {
		src, err := os.ReadFile(filepath.Join("..", "scenarios", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("load(\"s.star\", \"x\")\nx = 1\n"))
	f.Add([]byte("def test_x():\n    assert.eq(1,\n"))
	f.Add([]byte("load(\"missing.star\", \"y\")\n"))
	dir := f.TempDir()
	file := filepath.Join(dir, "s.star")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(file, src, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, err := range Check(file, nil) {
			if !strings.Contains(err.Error(), dir) && !strings.Contains(err.Error(), "s.star") {
				t.Fatalf("error without a position: %v", err)
			}
		}
	})
}
