package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

func readHistory(t *testing.T, path string) []history.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := history.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestAFailedCaseShowsItsNodesLogsAndArtifacts: a case that fails on
// purpose ends its report with where its artifacts are and the last lines
// of each node's log; the JUnit report carries both; the history ends with
// the failure's position.
func TestAFailedCaseShowsItsNodesLogsAndArtifacts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "broken.star"), `
def test_alone_is_multi():
    c = cluster.start(nodes=3)
    c.wait_converged()
    c.partition(["n1"], ["n2", "n3"])
    wait_until(lambda: c.node("n1").members() == ["n1"], timeout="10s")
    assert.eq(c.node("n1").mode(), "multi_node", "n1 cut off")
`)
	out, code := runCLI(t, dir, "run", "--artifacts", "out", "--junit", "junit.xml", "broken.star")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	caseDir := filepath.Join("out", "broken", "test_alone_is_multi-sim")
	for _, want := range []string{
		"broken.star:7:14", "n1 cut off",
		"    artifacts: " + caseDir + " (timeline.html, history.jsonl, nodes/*.log)",
		"    node n1, last 20 log lines:", "    node n2, last", "    node n3, last",
		"[INFO] engine: faults: cut off from n2 n3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The case's report ends with the tails: after the last node's header
	// come its stamped log lines, then only the run's closing lines (seed,
	// clock, count), unindented.
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "    node n3, last") })
	stamped := regexp.MustCompile(`^      +\d+\.\d{3}s `)
	end := last + 1
	for end < len(lines) && stamped.MatchString(lines[end]) {
		end++
	}
	for _, l := range lines[end:] {
		if strings.HasPrefix(l, " ") {
			t.Errorf("after n3's log lines the case's report goes on: %q", l)
		}
	}
	header := regexp.MustCompile(`last (\d+) log lines`).FindStringSubmatch(lines[last])
	if n := end - (last + 1); header == nil || header[1] != strconv.Itoa(n) || n < 10 || n > 20 {
		t.Errorf("n3's header %q and its %d lines (want 10 to 20)", lines[last], n)
	}

	for _, f := range []string{"history.jsonl", "timeline.html", "nodes/n1.log", "nodes/n2.log", "nodes/n3.log"} {
		if _, err := os.Stat(filepath.Join(dir, caseDir, f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}
	recs := readHistory(t, filepath.Join(dir, caseDir, "history.jsonl"))
	var failure *history.Record
	for i := range recs {
		if recs[i].Kind == history.KindFailure {
			failure = &recs[i]
		}
	}
	if failure == nil || !strings.HasSuffix(failure.Str("pos"), "broken.star:7:14") || !strings.Contains(failure.Str("message"), "n1 cut off") {
		t.Errorf("the history's failure record: %v", failure)
	}
	page, _ := os.ReadFile(filepath.Join(dir, caseDir, "timeline.html"))
	if !strings.Contains(string(page), `class="failure"`) || !strings.Contains(string(page), "broken.star:7:14") {
		t.Error("the timeline does not mark the failing assertion")
	}

	data, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	so := doc.Suites[0].Cases[0].SystemOut
	for _, want := range []string{"artifacts: " + caseDir, "--- n1: last 20 log lines", "engine: faults: cut off from n2 n3"} {
		if !strings.Contains(so, want) {
			t.Errorf("JUnit system-out lacks %q:\n%s", want, so)
		}
	}
}

// TestShippedPartitionScenarioLeavesItsArtifacts runs the shipped
// partition scenario on both backends with --artifacts: every case leaves
// its history, timeline and node logs, and the 2/3 split's history holds
// the partition, failures seen on each side, the heal and the joins after
// it, in time order.
func TestShippedPartitionScenarioLeavesItsArtifacts(t *testing.T) {
	dir := t.TempDir()
	src, err := filepath.Abs("../../scenarios/partitions.star")
	if err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, dir, "run", "--artifacts", "out", "--backend", "sim,real", src)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	cases := regexp.MustCompile(`(?m)^PASS .*::(test_\w+) \[(sim|real)[,\]]`).FindAllStringSubmatch(out, -1)
	if len(cases) < 10 {
		t.Fatalf("only %d cases passed:\n%s", len(cases), out)
	}
	for _, c := range cases {
		caseDir := filepath.Join(dir, "out", "partitions", c[1]+"-"+c[2])
		for _, f := range []string{"history.jsonl", "timeline.html", "nodes/n1.log", "nodes/n2.log"} {
			if fi, err := os.Stat(filepath.Join(caseDir, f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: artifact %s: %v", c[1]+"-"+c[2], f, err)
			}
		}
	}
	for _, backend := range []string{"sim", "real"} {
		recs := readHistory(t, filepath.Join(dir, "out", "partitions", "test_split_2_3_and_heal-"+backend, "history.jsonl"))
		var partition, heal float64 = -1, -1
		failSeenBy := map[string]bool{}
		joinsAfterHeal := 0
		for i, r := range recs {
			if i > 0 && r.T < recs[i-1].T {
				t.Errorf("%s: t goes back at record %d: %v after %v", backend, i, r, recs[i-1])
			}
			switch {
			case r.Kind == history.KindPartition:
				partition = r.T
			case r.Kind == history.KindHeal:
				heal = r.T
			case r.Kind == observe.KindFail && partition >= 0 && heal < 0:
				failSeenBy[r.Node] = true
			case r.Kind == observe.KindJoin && heal >= 0:
				joinsAfterHeal++
			}
		}
		if partition < 0 || heal < partition {
			t.Errorf("%s: partition at %v, heal at %v", backend, partition, heal)
		}
		if !failSeenBy["n1"] || !failSeenBy["n2"] || !failSeenBy["n3"] || !failSeenBy["n4"] || !failSeenBy["n5"] {
			t.Errorf("%s: failures during the partition seen by %v, want every node on both sides", backend, failSeenBy)
		}
		// Each side rejoins the other: 2×3 pairs both ways.
		if joinsAfterHeal < 12 {
			t.Errorf("%s: %d joins after the heal, want at least 12", backend, joinsAfterHeal)
		}
	}
}

// TestVerboseShowsNodeLogsLive: -v prints every node's log line as it is
// written, stamped and prefixed by its case and node.
func TestVerboseShowsNodeLogsLive(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "two.star"), "def test_two():\n    c = cluster.start(nodes=2)\n    c.wait_converged()\n")
	out, code := runCLI(t, dir, "run", "-v", "two.star")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, n := range []string{"n1", "n2"} {
		live := regexp.MustCompile(`(?m)^    \[test_two\] ` + n + ` \| +\d+\.\d{3}s \[INFO\] engine: node ` + n + ` started`)
		if !live.MatchString(out) {
			t.Errorf("no live log line of %s:\n%s", n, out)
		}
	}
}

// --junit and --json make their directories, as --artifacts makes its
// own; one that cannot be made is a usage error before anything runs.
func TestReportsMakeTheirDirectories(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.star"), "def test_ok():\n    pass\n")
	out, code := runCLI(t, dir, "run", "--junit", "reports/ci/junit.xml", "--json", "reports/run.json", "ok.star")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, f := range []string{"reports/ci/junit.xml", "reports/run.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.Contains(string(b), "test_ok") {
			t.Errorf("%s: %v\n%s", f, err, b)
		}
	}
	writeFile(t, filepath.Join(dir, "afile"), "")
	out, code = runCLI(t, dir, "run", "--junit", "afile/junit.xml", "ok.star")
	if code != 2 || !strings.Contains(out, "--junit afile/junit.xml: cannot make its directory") || strings.Contains(out, "PASS") {
		t.Fatalf("exit %d, want 2 and a clear error before any case runs:\n%s", code, out)
	}
}
