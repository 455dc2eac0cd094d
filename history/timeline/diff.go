package timeline

import (
	"bufio"
	"fmt"
	"io"
	"math"
)

// DiffPage is a case run on two sides, drawn as two timelines one above
// the other on one time axis, with the differences between them listed
// and marked on the lanes that show them.
type DiffPage struct {
	// Title names the case and its sides.
	Title string
	// Verdict is false when the differences fail the run.
	Verdict bool
	// Sides are the two runs; their titles name the sides.
	Sides [2]Page
	// Links are each side's own timeline page, relative to this one
	// ("" for none).
	Links [2]string
	// Lines are the differences.
	Lines []DiffLine
}

// DiffLine is one difference.
type DiffLine struct {
	Kind, Text string
	// Expected is where the case declared it, or "".
	Expected string
	// Explained names the fault both sides made that explains it, or "".
	Explained string
	// Marks are where it shows on each side.
	Marks [2]DiffMark
}

// DiffMark is where a difference shows on one side: the records that
// show it, or, Missing, the time and node where the other side had what
// this side lacks.
type DiffMark struct {
	Records []int // indexes into the side's Page.Records
	T       float64
	Node    string
	Missing bool
}

// RenderDiff writes the page as one self-contained HTML document.
func RenderDiff(w io.Writer, p DiffPage) error {
	bw := bufio.NewWriter(w)
	var models [2]*model
	end := 0.0
	for i, s := range p.Sides {
		models[i] = build(s)
		end = math.Max(end, models[i].end)
	}
	printf := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	printf("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s%s</style>\n</head><body>\n", esc(p.Title), css, diffCSS)
	printf("<header><h1>%s</h1>\n", esc(p.Title))
	verdict, class := "the sides agree on the verdict", "pass"
	if !p.Verdict {
		verdict, class = "the sides part in a way that fails the run", "fail"
	}
	printf("<p class=\"status status-%s\">%s</p>\n", class, esc(verdict))
	printf("<ol id=\"differences\">\n")
	if len(p.Lines) == 0 {
		printf("<li class=\"none\">no difference</li>\n")
	}
	for i, l := range p.Lines {
		exp := ""
		if l.Expected != "" {
			exp = fmt.Sprintf(" <span class=\"expected\">expected, declared at %s</span>", esc(l.Expected))
		}
		if l.Explained != "" {
			exp = fmt.Sprintf(" <span class=\"expected\">explained by %s</span>", esc(l.Explained))
		}
		printf("<li class=\"difference diff-%s\" data-diff=\"%d\"><b>%s</b> %s%s</li>\n", esc(l.Kind), i, esc(l.Kind), esc(l.Text), exp)
	}
	printf("</ol>\n<p class=\"meta\">Hover a span or a mark to see its record; a ring marks a difference, a dashed ring what the other side had here.</p>\n</header>\n")
	for i, s := range p.Sides {
		r := newRenderer(bw, models[i], end)
		id := fmt.Sprintf("timeline-%d", i)
		printf("<section class=\"side\" data-side=\"%d\"><h2>%s</h2>\n", i, esc(s.Title))
		r.status()
		if p.Links[i] != "" {
			printf("<p class=\"meta\"><a href=\"%s\">this side's own timeline</a></p>\n", esc(p.Links[i]))
		}
		if i == 0 {
			r.legend()
		}
		r.svg(id, func() { r.diffMarks(p.Lines, i) })
		r.records(id)
		printf("</section>\n")
	}
	printf("<div id=\"tip\" role=\"tooltip\"></div>\n<script>%s</script>\n</body></html>\n", script)
	return bw.Flush()
}

// diffMarks rings, on side i, what each difference points at.
func (r *renderer) diffMarks(lines []DiffLine, i int) {
	for n, l := range lines {
		mk := l.Marks[i]
		draw := func(t float64, node string, rec int, missing bool) {
			y, ok := r.laneY[node]
			if !ok {
				return
			}
			class, dash := "diff-mark", ""
			if missing {
				class, dash = "diff-mark diff-missing", ` stroke-dasharray="3,2"`
			}
			ref := ""
			if rec >= 0 {
				ref = fmt.Sprintf(" data-i=\"%d\"", r.m.ref(rec))
			}
			r.printf("<g class=\"%s\" data-diff=\"%d\" data-node=\"%s\" data-t=\"%g\"%s data-tip=\"%s\" transform=\"translate(%.2f,%.1f)\"><circle r=\"9\" fill=\"none\" stroke=\"#d500f9\" stroke-width=\"2.5\"%s/></g>",
				class, n, esc(node), t, ref, esc(l.Kind+": "+l.Text), r.x(t), y+barY+barH/2, dash)
		}
		if mk.Missing {
			draw(mk.T, mk.Node, -1, true)
			continue
		}
		for _, rec := range mk.Records {
			if rec < 0 || rec >= len(r.m.page.Records) {
				continue
			}
			pr := r.m.page.Records[rec]
			draw(pr.T, pr.Node, rec, false)
		}
	}
}

const diffCSS = `
h2 { font-size: 15px; margin: 18px 0 4px; }
#differences { margin: 8px 0; padding-left: 22px; }
#differences li { margin: 2px 0; }
#differences .none { color: #2e7d32; list-style: none; margin-left: -22px; }
.expected { color: #777; font-style: italic; }
.diff-mark circle { pointer-events: all; }
`
