package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

func TestNotConvergedReportStaysReadable(t *testing.T) {
	var all []string
	for i := range 1000 {
		all = append(all, fmt.Sprintf("n%04d", i))
	}
	views := map[string]View{}
	for _, n := range all {
		views[n] = View{Name: n, Members: all, Mode: membership.ModeMulti}
	}
	// Three nodes miss one member each; one does not answer.
	for _, n := range []string{"n0007", "n0500", "n0999"} {
		views[n] = View{Name: n, Members: append(append([]string{}, all[:3]...), all[4:]...), Mode: membership.ModeMulti}
	}
	delete(views, "n0123")
	e := &NotConvergedError{Cluster: "big", Want: [][]string{all}, Views: views, Errors: map[string]error{"n0123": errors.New("timeout")}}
	msg := e.Error()
	lines := strings.Split(msg, "\n")
	if len(lines) > maxViewLines+3 {
		t.Errorf("%d lines for 1000 nodes:\n%s", len(lines), msg)
	}
	for _, want := range []string{"[n0000 n0001", "1000 in all]", "4 of 1000 nodes see something else (1 did not answer)", "n0007 sees 999 members", "missing [n0003]", "n0123: no answer: timeout"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "n0600") {
		t.Errorf("report lists names one by one:\n%s", msg)
	}

	small := &NotConvergedError{Cluster: "c", Want: [][]string{{"a", "b", "c"}}, Views: map[string]View{
		"a": {Members: []string{"a", "b", "c"}}, "b": {Members: []string{"a", "b", "c"}}, "c": {Members: []string{"c"}},
	}}
	for _, want := range []string{"a sees [a b c]", "b sees [a b c]", "c sees [c]"} {
		if !strings.Contains(small.Error(), want) {
			t.Errorf("a small cluster's report shows every view; lacks %q:\n%s", want, small.Error())
		}
	}
}
