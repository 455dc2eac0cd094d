package scenario

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/history/diff"
)

// JUnit XML, in the shape GitHub, GitLab and Jenkins read: one
// <testsuite> per file and backend, one <testcase> per case run with the
// backend in its name, <failure> carrying the message (with file:line:col)
// and the Starlark backtrace, <skipped> with the reason.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results of a run as JUnit XML. Suites are ordered
// by file then backend; cases keep the order they ran in. A differential
// run adds one suite per file, backend "diff", with one case per compared
// case: a failure when its difference fails the run, the differences as
// its output.
func WriteJUnit(w io.Writer, sum Summary) error {
	results := sum.Results
	type key struct{ file, backend string }
	suites := map[key]*junitSuite{}
	durations := map[key]time.Duration{}
	var keys []key
	var total time.Duration
	all := junitSuites{Name: "clusterscript"}
	for _, r := range results {
		k := key{r.File, r.Backend}
		s := suites[k]
		if s == nil {
			s = &junitSuite{Name: r.File, Properties: []junitProperty{{Name: "backend", Value: r.Backend}}}
			suites[k] = s
			keys = append(keys, k)
		}
		c := junitCase{
			Name:      fmt.Sprintf("%s [%s]", r.Name, r.Backend),
			Classname: r.File,
			Time:      seconds(r.Wall),
		}
		switch r.Status {
		case Fail:
			body := r.Message
			if r.Backtrace != "" {
				body += "\n" + strings.TrimRight(r.Backtrace, "\n")
			}
			c.Failure = &junitFailure{Message: r.Message, Type: "failure", Body: body}
			s.Failures++
		case Skip:
			c.Skipped = &junitSkipped{Message: r.Message}
			s.Skipped++
		}
		if out := systemOut(r); out != "" {
			c.SystemOut = &junitText{Text: out}
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
		durations[k] += r.Wall
		total += r.Wall
	}
	for _, d := range sum.Diffs {
		k := key{d.File, "diff"}
		s := suites[k]
		if s == nil {
			s = &junitSuite{Name: d.File, Properties: []junitProperty{{Name: "backend", Value: "diff"}}}
			suites[k] = s
			keys = append(keys, k)
		}
		c := junitCase{Name: fmt.Sprintf("%s [diff %s | %s]", d.Name, d.Report.Sides[0], d.Report.Sides[1]), Classname: d.File, Time: "0.000"}
		var b strings.Builder
		for _, df := range d.Report.Differences {
			fmt.Fprintln(&b, diffLine(df))
		}
		if d.Artifacts != "" {
			fmt.Fprintf(&b, "diff: %s\n", d.Artifacts)
		}
		if d.Failed {
			msg := "the sides part"
			if u := d.Report.Unexpected(""); len(u) > 0 {
				msg = u[0].Kind + ": " + u[0].Text
			}
			c.Failure = &junitFailure{Message: msg, Type: "difference", Body: b.String()}
			s.Failures++
		}
		if b.Len() > 0 {
			c.SystemOut = &junitText{Text: b.String()}
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].file != keys[j].file {
			return keys[i].file < keys[j].file
		}
		return keys[i].backend < keys[j].backend
	})
	for _, k := range keys {
		s := suites[k]
		s.Time = seconds(durations[k])
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Skipped += s.Skipped
		all.Suites = append(all.Suites, *s)
	}
	all.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// systemOut is a case's <system-out>: its log() lines, where its artifacts
// are, and for a failure the last lines of every node's log.
func systemOut(r Result) string {
	var b strings.Builder
	for _, l := range r.Logs {
		b.WriteString(l + "\n")
	}
	if r.Artifacts != "" {
		fmt.Fprintf(&b, "artifacts: %s (timeline.html, history.jsonl, nodes/*.log)\n", r.Artifacts)
	}
	for _, t := range r.NodeLogs {
		fmt.Fprintf(&b, "--- %s: last %d log lines\n", t.Node, len(t.Lines))
		for _, l := range t.Lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// diffLine writes a difference as one line: its kind, its text, and why
// it does not count, if it does not.
func diffLine(d diff.Difference) string {
	if n := d.Note(); n != "" {
		return fmt.Sprintf("%s: %s (%s)", d.Kind, d.Text, n)
	}
	return d.Kind + ": " + d.Text
}
