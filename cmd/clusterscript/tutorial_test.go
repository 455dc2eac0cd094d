package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTutorial runs docs/tutorial.md as a reader would, in a fresh
// directory with bin/clusterscript in it. An HTML comment before a fenced
// block says what to do with the block:
//
//	<!-- test: file PATH -->   write the block to PATH
//	<!-- test: run -->         run each command of the block with sh; each
//	<!-- test: run exit=N -->  must exit 0 (or N)
//	<!-- test: output -->      the output of the last command run, line by
//	                           line; "..." matches anything (a line of
//	                           only "..." any lines, none included) and
//	                           durations such as 363ms match any duration
//	<!-- test: repl -->        a REPL transcript: its first line starts the
//	                           REPL, ">>> " lines are typed into it, and the
//	                           other lines must be printed, in that order
//
// Unmarked blocks (building, a cluster across machines) are not run.
func TestTutorial(t *testing.T) { runDoc(t, "tutorial.md") }

// TestHostsWalkthrough runs docs/hosts.md on the lab, as TestTutorial
// runs the tutorial.
func TestHostsWalkthrough(t *testing.T) {
	lab(t)
	runDoc(t, "hosts.md")
}

// runDoc runs the marked blocks of docs/NAME as a reader would.
func runDoc(t *testing.T, name string) {
	t.Helper()
	blocks, err := tutorialBlocks("../../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) == 0 {
		t.Fatalf("docs/%s marks no block as runnable", name)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary(t), filepath.Join(dir, "bin", "clusterscript")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "NO_COLOR=1", "HOME="+dir, "PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	var last string
	for _, b := range blocks {
		where := "docs/" + name + ":" + strconv.Itoa(b.line)
		switch {
		case b.kind == "file":
			writeFile(t, filepath.Join(dir, b.arg), b.body)
		case b.kind == "run":
			want := 0
			if n, ok := strings.CutPrefix(b.arg, "exit="); ok {
				want, _ = strconv.Atoi(n)
			}
			for _, cmd := range commands(b.body) {
				out, code := shell(t, dir, env, cmd, "")
				if code != want {
					t.Fatalf("%s: %s: exit %d, want %d; output:\n%s", where, cmd, code, want, out)
				}
				last = out
			}
		case b.kind == "output":
			if err := matchLines(b.body, last, false); err != "" {
				t.Errorf("%s: the output differs: %s\ngot:\n%s", where, err, last)
			}
		case b.kind == "repl":
			lines := strings.Split(strings.TrimSpace(b.body), "\n")
			var in, want []string
			for _, l := range lines[1:] {
				if typed, ok := strings.CutPrefix(l, ">>> "); ok {
					in = append(in, typed)
				} else {
					want = append(want, l)
				}
			}
			out, code := shell(t, dir, env, lines[0], strings.Join(in, "\n")+"\n")
			if code != 0 {
				t.Fatalf("%s: %s: exit %d; output:\n%s", where, lines[0], code, out)
			}
			if err := matchLines(strings.Join(want, "\n"), out, true); err != "" {
				t.Errorf("%s: the REPL printed otherwise: %s\ngot:\n%s", where, err, out)
			}
		default:
			t.Fatalf("%s: unknown test marker %q", where, b.kind)
		}
	}
}

// tutorialBlock is a fenced block marked for the test.
type tutorialBlock struct {
	kind, arg string
	body      string
	line      int // of the marker
}

var marker = regexp.MustCompile(`^<!-- test: (\S+)(?: (.*?))? -->$`)

func tutorialBlocks(path string) ([]tutorialBlock, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(src), "\n")
	var out []tutorialBlock
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		b := tutorialBlock{kind: m[1], arg: m[2], line: i + 1}
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		var body []string
		for j++; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			body = append(body, lines[j])
		}
		b.body = strings.Join(body, "\n") + "\n"
		out = append(out, b)
		i = j
	}
	return out, nil
}

// commands are a shell block's lines, comments dropped.
func commands(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func shell(t *testing.T, dir string, env []string, cmd, stdin string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Dir, c.Env = dir, env
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out), 0
}

var durationText = regexp.MustCompile(`[0-9]+(\\\.[0-9]+)?(µs|ms|s)`)

// matchLines reports how got differs from the expected lines: all of them
// in order, or with subsequence only the expected ones among others.
func matchLines(want, got string, subsequence bool) string {
	gotLines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	wantLines := strings.Split(strings.TrimRight(want, "\n"), "\n")
	if !subsequence && len(gotLines) != len(wantLines) && !slices.Contains(wantLines, "...") {
		return strconv.Itoa(len(gotLines)) + " lines, want " + strconv.Itoa(len(wantLines))
	}
	line := func(w string) *regexp.Regexp {
		pattern := regexp.QuoteMeta(w)
		pattern = strings.ReplaceAll(pattern, `\.\.\.`, `.*`)
		pattern = durationText.ReplaceAllString(pattern, `[0-9.]+(µs|ms|s)`)
		return regexp.MustCompile("^" + pattern + "$")
	}
	g := 0
	for i, w := range wantLines {
		if w == "..." {
			// Any lines, up to the one the next wanted line matches.
			if i+1 == len(wantLines) {
				g = len(gotLines)
				continue
			}
			next := line(wantLines[i+1])
			for g < len(gotLines) && !next.MatchString(gotLines[g]) {
				g++
			}
			continue
		}
		re := line(w)
		for g < len(gotLines) && !re.MatchString(gotLines[g]) {
			if !subsequence {
				return "line " + strconv.Itoa(g+1) + " does not match " + strconv.Quote(w)
			}
			g++
		}
		if g == len(gotLines) {
			return "no line matches " + strconv.Quote(w)
		}
		g++
	}
	if !subsequence && g < len(gotLines) {
		return "line " + strconv.Itoa(g+1) + " is more than wanted: " + strconv.Quote(gotLines[g])
	}
	return ""
}
