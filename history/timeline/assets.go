package timeline

// The page's style and script, inline: the page must work from a file
// with no network at all.

const css = `
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 17px; margin: 0 0 4px; font-weight: 600; }
header p { margin: 2px 0; }
.status { display: inline-block; padding: 1px 8px; border-radius: 3px; font-weight: 600; color: #fff; background: #777; }
.status-pass { background: #2e7d32; } .status-fail { background: #c62828; } .status-skip { background: #b08800; }
.failure-text { color: #b71c1c; }
.meta { color: #555; }
.legend { margin: 10px 0; display: flex; flex-wrap: wrap; gap: 4px 16px; color: #444; }
.legend .item { display: inline-flex; align-items: center; gap: 4px; }
.legend svg { vertical-align: middle; }
.scroll { overflow-x: auto; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #333; }
.axis .grid { stroke: #e4e4e4; }
.axis text { fill: #666; }
.cluster-header { font-weight: 600; }
.lane-label { fill: #222; }
.lane-bg { fill: #f4f4f4; }
.view:hover, .fault:hover { stroke: #000; stroke-width: 1; }
.mark { cursor: default; }
.mark:hover { filter: drop-shadow(0 0 2px #000); }
.call { stroke: #fff; stroke-width: .5; }
.call:hover { stroke: #000; stroke-width: 1; }
.call-ok { fill: #1565c0; } .call-fail { fill: #ef6c00; } .call-info { fill: #9e9e9e; opacity: .7; }
.band line { stroke: #555; stroke-dasharray: 4,3; }
.band text { fill: #555; font-size: 10px; }
.failure line { stroke: #d00; stroke-width: 2; }
.failure text { fill: #d00; font-weight: 600; }
#tip { position: fixed; display: none; max-width: 520px; white-space: pre-wrap; font: 11px/1.35 ui-monospace, SFMono-Regular, Menlo, monospace;
       background: #fffef4; border: 1px solid #999; box-shadow: 0 2px 6px rgba(0,0,0,.25); padding: 6px 8px; pointer-events: none; z-index: 10; }
`

const script = `
(function () {
  var tip = document.getElementById("tip");
  var parsed = {};
  function recordsOf(el) {
    var svg = el.closest("svg");
    var id = svg && svg.getAttribute("data-records");
    if (!id) return [];
    if (!parsed[id]) parsed[id] = JSON.parse(document.getElementById(id).textContent);
    return parsed[id];
  }
  function target(el) {
    while (el && el.getAttribute) {
      if (el.hasAttribute("data-i") || el.hasAttribute("data-tip")) return el;
      el = el.parentNode;
    }
    return null;
  }
  document.addEventListener("mousemove", function (ev) {
    var el = target(ev.target);
    if (!el) { tip.style.display = "none"; return; }
    var text = el.getAttribute("data-tip") || "";
    var i = el.getAttribute("data-i");
    var recs = i !== null ? recordsOf(el) : [];
    if (i !== null && recs[+i]) {
      text = (text ? text + "\n" : "") + JSON.stringify(recs[+i], null, 1);
    }
    tip.textContent = text;
    tip.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, ev.clientY - h - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  });
})();
`
