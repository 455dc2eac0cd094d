package process

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A kind keeps its state with SaveJSON and finds it again with LoadJSON
// in a table made later over the same data directory; the file is whole
// JSON, with nothing left of the write in between; without a data
// directory nothing is kept.
func TestAProcessKeepsItsStateInTheDataDirectory(t *testing.T) {
	counter := Kind{
		Name: "kept_counter",
		Init: func(self *Self) (Behaviour, error) {
			c := &keptCounter{self: self}
			_, err := self.LoadJSON("count.json", &c.n)
			return c, err
		},
	}
	table := func(dir string) *Table {
		tb, err := NewTable("n1", 1, append(Builtin(), counter))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tb.Stop)
		tb.SetDataDir(dir)
		return tb
	}
	incr := func(tb *Table, pid string) any {
		v, err := tb.Send(context.Background(), pid, "n1", MsgCall, "incr")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	dir := t.TempDir()
	tb := table(dir)
	s, err := tb.Spawn(SpawnRequest{Kind: "kept_counter"})
	if err != nil {
		t.Fatal(err)
	}
	incr(tb, s.PID)
	incr(tb, s.PID)
	again := table(dir)
	s2, err := again.Spawn(SpawnRequest{Kind: "kept_counter"})
	if err != nil {
		t.Fatal(err)
	}
	if got := incr(again, s2.PID); got != 3 {
		t.Fatalf("after a restart the count went on from %v, want 3", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "count.json" {
		t.Fatalf("the data directory holds %v, want only count.json", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "count.json")); string(b) != "3" {
		t.Fatalf("count.json holds %q", b)
	}
	none := table("")
	s3, err := none.Spawn(SpawnRequest{Kind: "kept_counter"})
	if err != nil {
		t.Fatal(err)
	}
	if got := incr(none, s3.PID); got != 1 {
		t.Fatalf("without a data directory: %v, want 1", got)
	}
}

type keptCounter struct {
	self *Self
	n    int
}

func (c *keptCounter) Handle(_ *Self, _ Message) (any, error) {
	c.n++
	return c.n, c.self.SaveJSON("count.json", c.n)
}
