package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRunReportsAndParallelOutput(t *testing.T) {
	dir := t.TempDir()
	for i := range 6 {
		writeFile(t, filepath.Join(dir, "s", fmt.Sprintf("f%d.star", i)), fmt.Sprintf(`
def test_a():
    for j in range(20):
        log("line", j, "of file %d")
    c = cluster.start(nodes=2)
    c.wait_converged()

def test_b():
    assert.eq(%d, 0)
`, i, i%2))
	}
	out, code := runCLI(t, dir, "run", "s", "-j", "3", "-v", "--junit", "out.xml", "--json", "out.json")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// Every line is whole: a case line, an indented detail or log line,
	// the seed line, or the summary.
	line := regexp.MustCompile(`^(PASS|FAIL|SKIP) s/f\d\.star::test_[ab] \[sim, virtual\] \(.* virtual, .* wall\)$|^    .*$|^seed \d+ .*$|^clock: 12 on virtual time \(.*\)$|^\d+ passed, \d+ failed$`)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("interleaved or unexpected line %q", l)
		}
	}
	if got := lines[len(lines)-1]; got != "9 passed, 3 failed" {
		t.Errorf("summary %q", got)
	}

	data, err := os.ReadFile(filepath.Join(dir, "out.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("out.xml: %v", err)
	}
	if doc.Tests != 12 || doc.Failures != 3 || len(doc.Suites) != 6 {
		t.Fatalf("out.xml totals: tests %d failures %d suites %d", doc.Tests, doc.Failures, len(doc.Suites))
	}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil && !regexp.MustCompile(`^s/f\d\.star:9:14: `).MatchString(c.Failure.Message) {
				t.Errorf("%s %s: failure message %q lacks file:line:col", s.Name, c.Name, c.Failure.Message)
			}
		}
	}
	var rep struct {
		Cases   []map[string]any `json:"cases"`
		Summary struct{ Passed, Failed int }
	}
	data, err = os.ReadFile(filepath.Join(dir, "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("out.json: %v", err)
	}
	if len(rep.Cases) != 12 || rep.Summary.Passed != 9 || rep.Summary.Failed != 3 {
		t.Fatalf("out.json: %d cases, summary %+v", len(rep.Cases), rep.Summary)
	}
}
