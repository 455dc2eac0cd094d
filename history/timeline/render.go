package timeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// Layout, in CSS pixels: the SVG is drawn at its own size, so a page
// element's position is its SVG coordinate (data-x0 and data-scale on the
// SVG say how time maps to x).
const (
	labelW  = 170.0
	plotW   = 1100.0
	rightW  = 30.0
	axisH   = 28.0
	headerH = 24.0
	laneH   = 26.0
	barY    = 7.0  // the view bar's offset in its lane
	barH    = 12.0 // and its height; faults shade the lane around it
)

// partialColours tell partial views apart; none is the amber of a brief
// view or the green and red of a complete or lonely one.
var partialColours = []string{"#4a7fd4", "#9b59b6", "#2aa1a1", "#c0587e", "#7f8c3a", "#8d6e63", "#5c6bc0", "#d4774a"}

var catColours = map[string]string{
	catFull: "#3a9d5d", catAlone: "#d9534f", catPaused: "#9e9e9e", catPartial: "#e6b43c",
}

// Render writes the page as one self-contained HTML document.
func Render(w io.Writer, p Page) error {
	m := build(p)
	bw := bufio.NewWriter(w)
	r := newRenderer(bw, m, m.end)
	r.page()
	return bw.Flush()
}

func newRenderer(w *bufio.Writer, m *model, end float64) *renderer {
	r := &renderer{w: w, m: m, scale: plotW / end, colours: map[string]string{}}
	r.assignColours()
	return r
}

type renderer struct {
	w         *bufio.Writer
	m         *model
	scale     float64
	colours   map[string]string  // partial view -> its colour
	viewOrder []string           // the views with a colour, longest held first
	laneY     map[string]float64 // node -> the y of its lane, once drawn
}

func (r *renderer) x(t float64) float64 { return labelW + math.Max(0, t)*r.scale }

func (r *renderer) printf(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func esc(s string) string { return html.EscapeString(s) }

func (r *renderer) page() {
	p := r.m.page
	r.printf("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n</head><body>\n", esc(p.Title), css)
	r.printf("<header><h1>%s</h1>\n", esc(p.Title))
	r.status()
	nodes := 0
	for _, c := range r.m.clusters {
		for _, l := range c.lanes {
			nodes += len(l.nodes)
		}
	}
	r.printf("<p class=\"meta\">%d records, %d nodes, %.3fs. Written beside it: <a href=\"history.jsonl\">history.jsonl</a>, <a href=\"nodes/\">nodes/*.log</a>. Hover a span or a mark to see its record.</p>\n</header>\n", len(p.Records), nodes, r.m.end)
	r.legend()
	r.svg("timeline", nil)
	r.printf("<div id=\"tip\" role=\"tooltip\"></div>\n")
	r.records("timeline")
	r.printf("<script>%s</script>\n</body></html>\n", script)
}

// status writes the case's outcome and its failure.
func (r *renderer) status() {
	p := r.m.page
	if p.Status != "" {
		r.printf("<p class=\"status status-%s\">%s</p>\n", esc(strings.ToLower(p.Status)), esc(p.Status))
	}
	if f := p.Failure; f != nil {
		msg := strings.TrimPrefix(f.Message, f.Pos+": ")
		r.printf("<p class=\"failure-text\">failed at t=%.3fs, <b>%s</b>: %s</p>\n", f.T, esc(f.Pos), esc(msg))
	}
}

// svg draws the lanes as the SVG element id; after draws over them.
func (r *renderer) svg(id string, after func()) {
	height := axisH
	for _, c := range r.m.clusters {
		height += headerH + float64(len(c.lanes)+len(c.clients))*laneH + 8
	}
	width := labelW + plotW + rightW
	r.printf("<div class=\"scroll\"><svg id=\"%s\" data-records=\"records-%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" data-x0=\"%g\" data-scale=\"%g\" data-end=\"%g\">\n",
		id, id, width, height, width, height, labelW, r.scale, r.m.end)
	r.defs()
	r.axis(height)
	y := axisH
	r.laneY = map[string]float64{}
	for _, c := range r.m.clusters {
		y = r.cluster(c, y)
	}
	r.failure(height)
	if after != nil {
		after()
	}
	r.printf("</svg></div>\n")
}

// records writes the records the marks of SVG id refer to.
func (r *renderer) records(id string) {
	recs, _ := json.Marshal(r.m.recs)
	if r.m.recs == nil {
		recs = []byte("[]")
	}
	// json.Marshal escapes <, > and &: the records cannot close the script.
	r.printf("<script type=\"application/json\" id=\"records-%s\">%s</script>\n", id, recs)
}

func (r *renderer) legend() {
	r.printf("<div class=\"legend\">")
	item := func(swatch, text string) {
		r.printf("<span class=\"item\">%s %s</span>", swatch, esc(text))
	}
	box := func(fill string) string {
		return fmt.Sprintf("<svg width=\"18\" height=\"12\"><rect width=\"18\" height=\"12\" fill=\"%s\"/></svg>", fill)
	}
	item(box(catColours[catFull]), "sees every live node")
	item(box(catColours[catPartial]), "sees some, briefly")
	for _, k := range r.viewOrder {
		item(box(r.colours[k]), "sees ["+k+"]")
	}
	item(box(catColours[catAlone]), "sees only itself")
	item(box(catColours[catPaused]), "paused")
	stripes := func(id string) string {
		return fmt.Sprintf("<svg width=\"18\" height=\"12\"><rect width=\"18\" height=\"12\" fill=\"url(#%s)\"/></svg>", id)
	}
	item(stripes("side0")+stripes("side1"), "partition (one shade per side)")
	item(stripes("fault-link"), "degraded link")
	item(stripes("fault-block"), "block")
	item(stripes("fault-pause"), "pause")
	for _, k := range []string{history.KindStart, history.KindRestart, history.KindKill, history.KindStop, history.KindOp, observe.KindFail, observe.KindHordeClaim} {
		item(fmt.Sprintf("<svg width=\"14\" height=\"14\" viewBox=\"-7 -7 14 14\">%s</svg>", glyph(k, false)), k)
	}
	if r.hasClients() {
		for _, typ := range []string{"ok", "fail", "info"} {
			item(fmt.Sprintf("<svg width=\"18\" height=\"12\"><rect class=\"call call-%s\" width=\"18\" height=\"12\"/></svg>", typ), "client call: "+typ)
		}
	}
	r.printf("<span class=\"item\"><svg width=\"14\" height=\"14\"><line x1=\"7\" x2=\"7\" y1=\"0\" y2=\"14\" stroke=\"#d00\" stroke-width=\"2\"/></svg> failed assertion</span>")
	r.printf("</div>\n")
}

// hasClients reports whether any cluster has a workload's clients.
func (r *renderer) hasClients() bool {
	for _, c := range r.m.clusters {
		if len(c.clients) > 0 {
			return true
		}
	}
	return false
}

// stripeColours shade partition sides, then block, link and pause faults.
var stripeColours = []string{"#5b7fbf", "#c9822f", "#3f9e8c", "#9c5fb0", "#8a8a2a", "#c2506e"}

func (r *renderer) defs() {
	r.printf("<defs>")
	pattern := func(id, colour string) {
		r.printf("<pattern id=\"%s\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"%s\"/></pattern>", id, colour)
	}
	for i, c := range stripeColours {
		pattern(fmt.Sprintf("side%d", i), c)
	}
	pattern("mixed", "rgba(60,60,60,.45)")
	pattern("fault-link", "rgba(230,120,0,.6)")
	pattern("fault-block", "rgba(180,0,0,.55)")
	pattern("fault-pause", "rgba(80,80,80,.6)")
	r.printf("</defs>\n")
}

func (r *renderer) axis(height float64) {
	step := niceStep(r.m.end / 10)
	r.printf("<g class=\"axis\">")
	for t := 0.0; t <= r.m.end+step/1000; t += step {
		x := r.x(t)
		r.printf("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", x, x, axisH-6, height)
		r.printf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%ss</text>", x, axisH-10, trimFloat(t, step))
	}
	r.printf("</g>\n")
}

func (r *renderer) cluster(c *clusterModel, y float64) float64 {
	r.printf("<g class=\"cluster\" data-cluster=\"%s\">", esc(c.name))
	r.printf("<text class=\"cluster-header\" x=\"4\" y=\"%.1f\">%s</text>\n", y+16, esc(c.header))
	top := y + headerH
	bottom := top + float64(len(c.lanes)+len(c.clients))*laneH
	for _, b := range c.bands {
		x := r.x(b.t)
		label := b.kind
		if b.kind == history.KindPartition {
			var sides []string
			for _, g := range r.m.recs[b.rec].Groups() {
				sides = append(sides, strings.Join(g, " "))
			}
			label = "partition " + strings.Join(sides, " | ")
		}
		r.printf("<g class=\"band band-%s\" data-t=\"%g\" data-i=\"%d\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\">%s</text></g>",
			b.kind, b.t, b.rec, x, x, top-6, bottom, x+3, top-6, esc(label))
	}
	for i, l := range c.lanes {
		r.lane(c, l, top+float64(i)*laneH)
	}
	for i, cl := range c.clients {
		r.clientLane(cl, top+float64(len(c.lanes)+i)*laneH)
	}
	r.printf("</g>\n")
	return bottom + 8
}

// clientLane draws a workload client's calls as bars, invocation to
// completion; an info call, whose effect is unknown, is grey.
func (r *renderer) clientLane(cl *clientLane, y float64) {
	r.printf("<g class=\"lane client-lane\" data-client=\"%d\" data-y=\"%g\" data-h=\"%g\">", cl.client, y, laneH)
	r.printf("<text class=\"lane-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">client %d</text>", labelW-8, y+barY+barH-3, cl.client)
	r.printf("<rect class=\"lane-bg\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", labelW, y+barY, plotW, barH)
	for _, b := range cl.bars {
		r.printf("<rect class=\"call call-%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" data-t0=\"%g\" data-t1=\"%g\" data-i=\"%d\"/>",
			esc(b.typ), r.x(b.t0), y+barY, math.Max(1, (b.t1-b.t0)*r.scale), barH, b.t0, b.t1, b.rec)
	}
	r.printf("</g>\n")
}

func (r *renderer) lane(c *clusterModel, l *lane, y float64) {
	for _, n := range l.nodes {
		if _, ok := r.laneY[n]; !ok {
			r.laneY[n] = y
		}
	}
	r.printf("<g class=\"lane\" data-lane=\"%s\" data-nodes=\"%d\" data-y=\"%g\" data-h=\"%g\">", esc(l.key), len(l.nodes), y, laneH)
	r.printf("<text class=\"lane-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", labelW-8, y+barY+barH-3, esc(l.label))
	r.printf("<rect class=\"lane-bg\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", labelW, y+barY, plotW, barH)
	for _, f := range l.fault {
		fill := "url(#fault-" + f.kind + ")"
		if f.kind == history.KindPartition {
			fill = "url(#mixed)"
			if f.shade >= 0 {
				fill = fmt.Sprintf("url(#side%d)", f.shade%len(stripeColours))
			}
		}
		r.printf("<rect class=\"fault fault-%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" data-t0=\"%g\" data-t1=\"%g\" data-i=\"%d\" data-tip=\"%s\"/>",
			f.kind, r.x(f.t0), y+2, math.Max(1, (f.t1-f.t0)*r.scale), laneH-4, fill, f.t0, f.t1, f.rec, esc(f.label))
	}
	for _, s := range l.spans {
		if s.cat == catDown {
			continue
		}
		fill := catColours[s.cat]
		if s.cat == catPartial && !c.grouped {
			fill = r.partialColour(s.key)
		}
		r.printf("<rect class=\"view view-%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" data-t0=\"%g\" data-t1=\"%g\" data-tip=\"%s\"/>",
			s.cat, r.x(s.t0), y+barY, math.Max(0.5, (s.t1-s.t0)*r.scale), barH, fill, s.t0, s.t1, esc(s.tip))
	}
	for _, mk := range l.marks {
		failed := mk.kind == history.KindOp && r.m.recs[mk.rec].Str("code") != ""
		r.printf("<g class=\"mark mark-%s\" data-t=\"%g\" data-i=\"%d\" transform=\"translate(%.2f,%.1f)\">%s</g>",
			mk.kind, mk.t, mk.rec, r.x(mk.t), y+barY+barH/2, glyph(mk.kind, failed))
	}
	r.printf("</g>\n")
}

// partialColour is the colour of a partial view: the views held longest
// (summed over lanes) get a colour each, so the lanes on one side of a
// partition share one; brief views in between are all amber.
func (r *renderer) partialColour(key string) string {
	if c, ok := r.colours[key]; ok {
		return c
	}
	return catColours[catPartial]
}

// assignColours picks the views that get their own colour.
func (r *renderer) assignColours() {
	held := map[string]float64{}
	for _, c := range r.m.clusters {
		if c.grouped {
			continue
		}
		for _, l := range c.lanes {
			for _, s := range l.spans {
				if s.cat == catPartial {
					held[s.key] += s.t1 - s.t0
				}
			}
		}
	}
	keys := make([]string, 0, len(held))
	for k := range held {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if held[keys[i]] != held[keys[j]] {
			return held[keys[i]] > held[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for i, k := range keys[:min(len(keys), len(partialColours))] {
		r.colours[k] = partialColours[i]
		r.viewOrder = append(r.viewOrder, k)
	}
}

// glyph draws a mark centred on 0,0.
func glyph(kind string, failed bool) string {
	switch kind {
	case history.KindKill:
		return `<path d="M-5,-5L5,5M-5,5L5,-5" stroke="#b71c1c" stroke-width="2.5"/>`
	case history.KindCrash:
		return `<path d="M-5,-5L5,5M-5,5L5,-5" stroke="#ff6f00" stroke-width="2.5"/><circle r="6" fill="none" stroke="#ff6f00" stroke-width="1.2"/>`
	case history.KindStop:
		return `<rect x="-4.5" y="-4.5" width="9" height="9" fill="#333"/>`
	case history.KindStart:
		return `<path d="M-4,5L4,5L0,-5Z" fill="#1b5e20" stroke="#fff" stroke-width=".8"/>`
	case history.KindRestart:
		return `<path d="M-5,6L5,6L0,-6Z" fill="#fff" stroke="#1b5e20" stroke-width="2"/>`
	case history.KindOp:
		if failed {
			return `<circle r="4" fill="#ef6c00" stroke="#fff" stroke-width="1"/>`
		}
		return `<circle r="4" fill="#1565c0" stroke="#fff" stroke-width="1"/>`
	case observe.KindFail:
		return `<line y1="-7" y2="7" stroke="#7f0000" stroke-width="1.5"/>`
	case observe.KindLeave:
		return `<line y1="-7" y2="7" stroke="#555" stroke-width="1.5" stroke-dasharray="2,2"/>`
	case observe.KindHordeClaim:
		return `<path d="M0,-5L5,0L0,5L-5,0Z" fill="#6a1b9a"/>`
	case observe.KindHordeRelease:
		return `<path d="M0,-5L5,0L0,5L-5,0Z" fill="#fff" stroke="#6a1b9a" stroke-width="1.5"/>`
	}
	return `<circle r="3" fill="#fff" stroke="#000"/><text y="3" text-anchor="middle" font-size="7">!</text>`
}

func (r *renderer) failure(height float64) {
	f := r.m.page.Failure
	if f == nil {
		return
	}
	x := r.x(f.T)
	tx, anchor := x+4, "start"
	if x > labelW+0.75*plotW {
		tx, anchor = x-4, "end"
	}
	r.printf("<g class=\"failure\" data-t=\"%g\" data-tip=\"%s\"><line x1=\"%.2f\" x2=\"%.2f\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%.2f\" y=\"12\" text-anchor=\"%s\">✗ %s</text></g>\n",
		f.T, esc(f.Pos+": "+f.Message), x, x, 0.0, height, tx, anchor, esc(f.Pos))
}

// niceStep rounds a tick interval up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, k := range []float64{1, 2, 5, 10} {
		if raw <= k*p {
			return k * p
		}
	}
	return 10 * p
}

// trimFloat writes t with as many decimals as the step needs.
func trimFloat(t, step float64) string {
	d := max(0, int(math.Ceil(-math.Log10(step))))
	return fmt.Sprintf("%.*f", d, t)
}
