package node

import (
	"bytes"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"
)

// A flood of garbage datagrams costs a node's log limitBurst lines per
// window of each kind of complaint, and the count of those left out;
// every other line passes.
func TestFloodsOfComplaintsAreCountedNotLogged(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := newLineLimiter(&out, func() time.Time { return now })
	ml := log.New(lim, "n1 ", log.Lmicroseconds) // as memberlist's logger writes
	engine := newLogger("n1", lim)
	for i := range 200 {
		ml.Printf("[ERR] memberlist: Decrypt packet failed: cipher: message authentication failed from=10.0.0.%d:7946", i%250)
		if i%50 == 0 {
			ml.Printf("[DEBUG] memberlist: Stream connection from=10.0.0.%d:7946", i)
			engine.Printf("[INFO] engine: n%d joined (x)", i)
		}
	}
	ml.Printf("[WARN] memberlist: Got ping for unexpected node n9 from=10.0.0.9:7946")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if got := count(lines, "Decrypt packet failed"); got != limitBurst {
		t.Errorf("%d decrypt lines in a window, want %d:\n%s", got, limitBurst, out.String())
	}
	if count(lines, "Stream connection") != 4 || count(lines, "engine: n") != 4 || count(lines, "unexpected node n9") != 1 {
		t.Errorf("other lines must all pass:\n%s", out.String())
	}

	out.Reset()
	now = now.Add(limitWindow)
	ml.Printf("[ERR] memberlist: Decrypt packet failed: cipher: message authentication failed from=10.0.0.1:7946")
	want := fmt.Sprintf(`[WARN] engine: left out %d more lines of "memberlist: Decrypt packet failed" in 10s`, 200-limitBurst)
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "n1 ") || !strings.Contains(lines[0], want) || !strings.Contains(lines[1], "Decrypt packet failed") {
		t.Errorf("the next window starts with the count left out, want %q then the line:\n%s", want, out.String())
	}
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
