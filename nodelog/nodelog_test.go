package nodelog

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLinesAreStampedTailedWrittenAndShownLive(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var live []string
	s := New(Options{Origin: time.Now().Add(-1500 * time.Millisecond), Dir: dir, Live: func(node, line string) {
		mu.Lock()
		live = append(live, node+"|"+line)
		mu.Unlock()
	}})
	w := s.Writer("n1")
	// memberlist's format, split across writes the way a pipe delivers it.
	fmt.Fprint(w, "n1 12:00:01.123456 [DEBUG] memberlist: Stream conn")
	fmt.Fprint(w, "ection from=1.2.3.4\nn1 12:00:01.200000 [INFO] engine: n2 joined (x)\n")
	for i := range 30 {
		fmt.Fprintf(s.Writer("n2"), "line %d\n", i)
	}
	fmt.Fprint(w, "no newline at the end")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`^ +1\.5\d\ds `)
	tails := s.Tails()
	if len(tails) != 2 || tails[0].Node != "n1" || tails[1].Node != "n2" {
		t.Fatalf("tails %+v", tails)
	}
	n1 := tails[0].Lines
	if len(n1) != 3 || !stamp.MatchString(n1[0]) || !strings.HasSuffix(n1[0], "s [DEBUG] memberlist: Stream connection from=1.2.3.4") ||
		!strings.HasSuffix(n1[1], "s [INFO] engine: n2 joined (x)") || !strings.HasSuffix(n1[2], "s no newline at the end") {
		t.Fatalf("n1's lines: %q", n1)
	}
	n2 := tails[1].Lines
	if len(n2) != DefaultTail || !strings.HasSuffix(n2[0], " line 10") || !strings.HasSuffix(n2[19], " line 29") {
		t.Fatalf("n2's tail should be lines 10..29 in order, got %q", n2)
	}
	b, err := os.ReadFile(filepath.Join(dir, "n2.log"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n"); len(lines) != 30 || !stamp.MatchString(lines[0]) {
		t.Fatalf("n2.log holds every line: %q", lines)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(live) != 33 || !strings.HasPrefix(live[0], "n1|") || !strings.HasSuffix(live[0], "Stream connection from=1.2.3.4") {
		t.Fatalf("live lines: %d, first %q", len(live), live[0])
	}
}

func TestWithoutADirectoryNothingIsWritten(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := New(Options{})
	fmt.Fprintln(s.Writer("n1"), "hello")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("wrote %v", ents)
	}
	if tl := s.Tails(); len(tl) != 1 || !strings.HasSuffix(tl[0].Lines[0], "s hello") {
		t.Fatalf("tail %+v", tl)
	}
}

func TestTailsAreInNodeOrder(t *testing.T) {
	s := New(Options{})
	for _, n := range []string{"n10", "n2", "c2/n1", "n1"} {
		fmt.Fprintln(s.Writer(n), "x")
	}
	var got []string
	for _, tl := range s.Tails() {
		got = append(got, tl.Node)
	}
	if strings.Join(got, " ") != "c2/n1 n1 n2 n10" {
		t.Fatalf("order %v", got)
	}
}
