package scenario

import (
	"fmt"
	"strings"
	"testing"
)

// A case that prints 300 MiB keeps its first and last lines, each cut to
// its ends, and says how much it dropped between them; a short log is
// kept as printed.
func TestCaseLogKeepsHeadAndTail(t *testing.T) {
	short := &caseLog{}
	for i := range 5 {
		short.add(fmt.Sprintf("line %d", i))
	}
	if got := strings.Join(short.lines(), "|"); got != "line 0|line 1|line 2|line 3|line 4" {
		t.Fatalf("a short log: %q", got)
	}

	l := &caseLog{}
	big := strings.Repeat("x", 1<<20)
	for i := range 300 {
		l.add(fmt.Sprintf("print %d %s", i, big))
	}
	lines := l.lines()
	total := 0
	for _, s := range lines {
		total += len(s)
	}
	if total > logHeadBytes+logTailBytes+maxLogLine {
		t.Fatalf("kept %d bytes of a 300 MiB log", total)
	}
	if !strings.HasPrefix(lines[0], "print 0 xxx") || !strings.Contains(lines[0], "bytes left out") {
		t.Fatalf("first line %.60q", lines[0])
	}
	if !strings.HasPrefix(lines[len(lines)-1], "print 299 ") {
		t.Fatalf("last line %.60q", lines[len(lines)-1])
	}
	var note string
	for _, s := range lines {
		if strings.HasPrefix(s, "… ") {
			note = s
		}
	}
	kept := len(lines) - 1
	if want := fmt.Sprintf("… %d lines (", 300-kept); !strings.HasPrefix(note, want) || !strings.HasSuffix(note, " bytes) of the log not kept …") {
		t.Fatalf("the note of what was dropped: %q, want it to start %q", note, want)
	}
}
