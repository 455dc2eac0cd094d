package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
)

// runSample runs scenarios with a pass, failures deep in a helper and at
// top level, a skip and a log line, and returns the summary.
func runSample(t *testing.T) (Summary, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"a.star": `def helper(x):
    assert.eq(x, 2, "x & <y> ]]>")

def test_pass():
    log("hello from test_pass")

def test_fail():
    helper(1)

def test_skip():
    skip("not today")
`,
		"b.star": `fail("top level boom")
`,
	}
	var paths []string
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	sum, err := Run(context.Background(), paths, Options{Backends: []cluster.Backend{cluster.Sim}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sum, dir
}

// The JUnit schema's shape, decoded strictly enough to catch misnamed
// elements and attributes.
type xTestsuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

var filePos = regexp.MustCompile(`\.star:\d+:\d+`)
var decimal = regexp.MustCompile(`^\d+\.\d{3}$`)

func TestJUnit(t *testing.T) {
	sum, dir := runSample(t)
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sum); err != nil {
		t.Fatal(err)
	}
	var doc xTestsuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if doc.Tests != 4 || doc.Failures != 2 || doc.Skipped != 1 || len(doc.Suites) != 2 {
		t.Fatalf("totals: %+v\n%s", doc, buf.String())
	}
	a, b := doc.Suites[0], doc.Suites[1]
	if a.Name != filepath.Join(dir, "a.star") || b.Name != filepath.Join(dir, "b.star") {
		t.Errorf("suite names %q, %q", a.Name, b.Name)
	}
	if a.Tests != 3 || a.Failures != 1 || a.Skipped != 1 || len(a.Props) != 1 || a.Props[0].Value != "sim" {
		t.Errorf("suite a: %+v", a)
	}
	for _, s := range doc.Suites {
		if !decimal.MatchString(s.Time) {
			t.Errorf("suite time %q", s.Time)
		}
		for _, c := range s.Cases {
			if !strings.HasSuffix(c.Name, " [sim]") || c.Classname != s.Name || !decimal.MatchString(c.Time) {
				t.Errorf("case %+v", c)
			}
		}
	}
	pass, fail, skip := a.Cases[0], a.Cases[1], a.Cases[2]
	if pass.Name != "test_pass [sim]" || pass.Failure != nil || pass.Skipped != nil || !strings.Contains(pass.SystemOut, "hello from test_pass") {
		t.Errorf("pass case %+v", pass)
	}
	if fail.Failure == nil || !filePos.MatchString(fail.Failure.Message) || !strings.Contains(fail.Failure.Message, "x & <y> ]]>") {
		t.Fatalf("failure message without file:line:col: %+v", fail.Failure)
	}
	if !strings.Contains(fail.Failure.Body, "a.star:8:11: in test_fail") || !strings.Contains(fail.Failure.Body, "a.star:2:14: in helper") {
		t.Errorf("failure body lacks the backtrace:\n%s", fail.Failure.Body)
	}
	if skip.Skipped == nil || skip.Skipped.Message != "not today" {
		t.Errorf("skip case %+v", skip)
	}
	top := b.Cases[0]
	if top.Name != "(top level) [sim]" || top.Failure == nil || !strings.Contains(top.Failure.Message, "b.star:1:5") {
		t.Errorf("top-level case %+v", top)
	}
}

func TestJSONReport(t *testing.T) {
	sum, _ := runSample(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sum, 7, time.Second); err != nil {
		t.Fatal(err)
	}
	var rep JSONReport
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != 4 || rep.Summary.Passed != 1 || rep.Summary.Failed != 2 || rep.Summary.Skipped != 1 ||
		rep.Summary.Total != 4 || rep.Summary.Seed != 7 || rep.Summary.Line != "1 passed, 2 failed, 1 skipped" {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Cases {
		if c.Status == Fail && !filePos.MatchString(c.Message) {
			t.Errorf("failure without file:line:col: %+v", c)
		}
	}
}
