package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

const staleRead = `
def test_stale():
    h = [
        {"client": 0, "type": "invoke", "op": "put", "params": {"value": 1}},
        {"client": 0, "type": "ok", "op": "put"},
        {"client": 1, "type": "invoke", "op": "get"},
        {"client": 1, "type": "ok", "op": "get", "result": None},
    ]
    r = check.linearizable(h, check.register())
    assert.eq(r["valid"], False)
`

// A failed linearizability check's page opens in a headless browser with
// no network request, and shows the operations of the anomaly.
func TestLinearizabilityPageInAHeadlessBrowser(t *testing.T) {
	chrome := chromium(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "lin.star"), staleRead)
	out, code := runCLI(t, dir, "run", "lin.star", "--artifacts", "out")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "out", "lin", "test_stale-*", "linearizability.html"))
	if len(pages) != 1 {
		t.Fatalf("linearizability.html: %v", pages)
	}
	page := "file://" + pages[0]
	ctx, requests := browse(t, chrome, page, "canvas", 900)
	texts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#canvas text')).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	shown := strings.Join(texts, "\n")
	for _, want := range []string{"client 0: put(value=1) -> null", "client 1: get() -> null"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the page does not show %q; it shows:\n%s", want, shown)
		}
	}
	noRequests(t, requests(), page)
}
