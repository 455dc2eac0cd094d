package timeline

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

func rec(t float64, kind, node, peer string, kv ...any) history.Record {
	r := history.Record{T: t, Kind: kind, Node: node, Peer: peer, Cluster: "c1"}
	if len(kv) > 0 {
		r.Fields = map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			r.Fields[kv[i].(string)] = kv[i+1]
		}
	}
	return r
}

// formed is n nodes started at t=0.01+0.001·i that all see each other by
// t=1.
func formed(n int) []history.Record { return joined(n, n) }

// joined is n nodes started, each of which sees the next k-1 join.
func joined(n, k int) []history.Record {
	var names []any
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	recs := []history.Record{rec(0, history.KindClusterStart, "", "", "backend", "sim", "profile", "test", "nodes", names, "bound", 4.0)}
	for i := range n {
		recs = append(recs, rec(0.01+float64(i)*0.001, history.KindStart, names[i].(string), ""))
	}
	for i := range n {
		for d := 1; d < k; d++ {
			recs = append(recs, rec(0.5+float64(i)*0.0001, observe.KindJoin, names[i].(string), names[(i+d)%n].(string)))
		}
	}
	return recs
}

func render(t *testing.T, p Page) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAPartitionAndAKillAreDrawnWhereTheHistorySays(t *testing.T) {
	recs := append(formed(3),
		rec(2, history.KindPartition, "", "", "groups", []any{[]any{"n1"}, []any{"n2", "n3"}}),
		rec(2.5, observe.KindFail, "n1", "n2"),
		rec(3, history.KindHeal, "", ""),
		rec(4, history.KindKill, "n3", ""),
		rec(4.2, history.KindOp, "n1", "", "op", "cluster_health", "code", "timeout"),
	)
	html := render(t, Page{Title: "x.star::test_y [sim]", Status: "FAIL", Records: recs, End: 5,
		Failure: &Failure{T: 4.5, Pos: "x.star:12:11", Message: "assert.eq: 1 != 2 <&>"}})
	lanes := regexp.MustCompile(`<g class="lane" data-lane="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(lanes) != 3 || lanes[0][1] != "n1" || lanes[2][1] != "n3" {
		t.Fatalf("lanes %v", lanes)
	}
	// scale: 1100px over 5s = 220 px/s, from x=170.
	for _, want := range []string{
		`data-x0="170" data-scale="220"`,
		`class="fault fault-partition" x="610.00"`, // t=2
		`data-t0="2" data-t1="3"`,
		`class="mark mark-kill" data-t="4"`,
		`translate(1050.00,`, // the kill at t=4
		`class="failure" data-t="4.5"`,
		`✗ x.star:12:11`,
		`assert.eq: 1 != 2 &lt;&amp;&gt;`,
		`<circle r="4" fill="#ef6c00"`, // the failed op
		`partition n1 | n2 n3`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(html) {
		t.Error("the page refers to something on the network")
	}
}

func TestAThousandNodesRenderGrouped(t *testing.T) {
	recs := joined(1000, 20)
	recs = append(recs, rec(2, history.KindKill, "n500", ""))
	html := render(t, Page{Title: "big", Records: recs, End: 3})
	lanes := regexp.MustCompile(`<g class="lane" data-lane="[^"]+" data-nodes="(\d+)"`).FindAllStringSubmatch(html, -1)
	if len(lanes) != MaxLanes {
		t.Fatalf("%d lanes, want %d groups", len(lanes), MaxLanes)
	}
	if lanes[0][1] != "20" {
		t.Errorf("first group has %s nodes, want 20", lanes[0][1])
	}
	if !strings.Contains(html, `data-lane="n1..n20"`) || !strings.Contains(html, "n1 … n20 (20)") {
		t.Error("groups should be named by their first and last node")
	}
	if len(html) > 2<<20 {
		t.Errorf("the page is %d bytes", len(html))
	}
	if !strings.Contains(html, `class="mark mark-kill" data-t="2"`) {
		t.Error("the kill is not drawn on its group's lane")
	}
}

// BenchmarkRenderThousandNodeFormation: a thousand nodes forming a cluster
// is a million observations to draw.
func BenchmarkRenderThousandNodeFormation(b *testing.B) {
	recs := formed(1000)
	for b.Loop() {
		var buf bytes.Buffer
		if err := Render(&buf, Page{Title: "big", Records: recs, End: 2}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	}
}
