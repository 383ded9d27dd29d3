// querycomb HTML report: renders the JSON in #data with DOM APIs only. Every value from the
// data becomes a text node or an attribute value set with setAttribute; nothing is parsed
// as markup, so SQL and tags can hold any text.
(function () {
  "use strict";
  var PAGE = 100;
  var BAR_FPS = []; // data.bar_fingerprints: waterfall bars name their fingerprint by index
  var NS = document.getElementById("svgns").namespaceURI;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    appendAll(node, Array.prototype.slice.call(arguments, 2));
    return node;
  }
  function sv(tag, attrs) {
    var node = document.createElementNS(NS, tag);
    setAttrs(node, attrs);
    appendAll(node, Array.prototype.slice.call(arguments, 2));
    return node;
  }
  function setAttrs(node, attrs) {
    for (var k in attrs || {}) if (attrs[k] != null && attrs[k] !== false) node.setAttribute(k, String(attrs[k]));
  }
  function appendAll(node, kids) {
    kids.forEach(function (k) {
      if (k == null || k === false) return;
      if (Array.isArray(k)) appendAll(node, k);
      else node.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
    });
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function int(n) { return n == null ? "–" : Number(n).toLocaleString("en-US"); }
  function dur(us) {
    if (us == null) return "–";
    if (us < 1000) return Math.round(us) + " µs";
    if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + " ms";
    if (us < 6e7) return (us / 1e6).toFixed(2) + " s";
    return (us / 6e7).toFixed(1) + " min";
  }
  function bytes(n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function when(us) {
    if (us == null) return null;
    var d = new Date(us / 1000);
    return isNaN(d) ? null : d.toISOString().replace("T", " ").replace("Z", " UTC");
  }
  function plural(n, word) { return int(n) + " " + word + (n === 1 ? "" : "s"); }
  var SEV_RANK = { error: 3, warning: 2, info: 1 };

  // ---------- theme ----------
  function effectiveDark() {
    var t = document.documentElement.getAttribute("data-theme");
    if (t) return t === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function syncThemeButton() {
    var dark = effectiveDark(), b = $("theme");
    b.textContent = dark ? "Light mode" : "Dark mode";
    b.setAttribute("aria-pressed", String(dark));
  }
  function initTheme() {
    try { var saved = localStorage.getItem("querycomb-theme"); } catch (e) { saved = null; }
    if (saved === "dark" || saved === "light") document.documentElement.setAttribute("data-theme", saved);
    syncThemeButton();
    $("theme").addEventListener("click", function () {
      var next = effectiveDark() ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { localStorage.setItem("querycomb-theme", next); } catch (e) { /* file:// may forbid storage */ }
      syncThemeButton();
    });
    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      if (mq.addEventListener) mq.addEventListener("change", syncThemeButton);
    }
  }

  // ---------- sortable, paginated tables ----------
  // One instance per table: keeps sort key/direction and page, re-renders rows on change.
  function Table(opts) {
    var self = this;
    this.opts = opts; this.page = 0; this.key = opts.key; this.dir = opts.dir;
    this.heads = Array.prototype.slice.call(document.querySelectorAll("#" + opts.grid + " th[data-sort]"));
    this.heads.forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var k = th.getAttribute("data-sort");
        if (self.key === k) self.dir = -self.dir;
        else { self.key = k; self.dir = opts.defaultDir(k); }
        self.page = 0; self.render();
      });
    });
  }
  Table.prototype.render = function () {
    var o = this.opts, key = this.key, dir = this.dir;
    var rows = o.rows().slice();
    rows.sort(function (a, b) {
      var x = o.sortValue(a, key), y = o.sortValue(b, key), c;
      if (typeof x === "string" || typeof y === "string") c = String(x).localeCompare(String(y));
      else c = (x == null ? -Infinity : x) - (y == null ? -Infinity : y);
      return c * dir || o.tieBreak(a, b);
    });
    this.heads.forEach(function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-sort") === key ? (dir > 0 ? "ascending" : "descending") : "none");
    });
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    if (this.page >= pages) this.page = pages - 1;
    var body = clear($(o.body));
    rows.slice(this.page * PAGE, this.page * PAGE + PAGE).forEach(function (r) { appendAll(body, [o.row(r)]); });
    this.pager(rows.length, pages);
    if (o.after) o.after(rows.length);
  };
  Table.prototype.pager = function (total, pages) {
    var self = this, nav = clear($(this.opts.pager));
    if (pages <= 1) { nav.hidden = true; return; }
    nav.hidden = false;
    var first = this.page * PAGE + 1, last = Math.min(total, first + PAGE - 1);
    var prev = el("button", { type: "button", disabled: this.page === 0 }, "Previous");
    var next = el("button", { type: "button", disabled: this.page >= pages - 1 }, "Next");
    prev.addEventListener("click", function () { self.page--; self.render(); });
    next.addEventListener("click", function () { self.page++; self.render(); });
    appendAll(nav, [prev, el("span", null, int(first) + "–" + int(last) + " of " + int(total) + " (page " + (this.page + 1) + " of " + pages + ")"), next]);
  };

  // ---------- summary ----------
  function renderSummary(d) {
    var s = d.summary;
    $("title").textContent = d.title;
    document.title = d.title;
    $("inputs").textContent = d.inputs.length ? "Inputs: " + d.inputs.join(", ") : "";
    var cards = [
      [int(s.requests), "requests"], [int(s.statements), "statements"],
      [s.requests ? (s.statements / s.requests).toFixed(1) : "–", "statements per request"],
      [int(s.findings), "findings"], [s.wasted_us ? dur(s.wasted_us) : "–", "time in repeated statements"],
      [int(s.malformed), "malformed records skipped"]
    ];
    if (s.bytes) cards.push([bytes(s.bytes), "read in " + dur(s.elapsed_ms * 1000)]);
    appendAll(clear($("cards")), cards.map(function (c) { return el("div", { "class": "card" }, el("b", null, c[0]), el("span", null, c[1])); }));
    var kinds = clear($("by-kind"));
    s.by_kind.forEach(function (k) { if (k[2]) appendAll(kinds, [el("tr", null, el("td", null, k[1]), el("td", { "class": "num" }, int(k[2])))]); });
    if (!kinds.firstChild) appendAll(kinds, [el("tr", null, el("td", { "class": "muted" }, "No findings."))]);
    var sev = clear($("by-sev"));
    s.by_severity.forEach(function (v) { appendAll(sev, [el("tr", null, el("td", null, el("span", { "class": "sev sev-" + v[0] }, v[0])), el("td", { "class": "num" }, int(v[1])))]); });
    var top = clear($("top-routes"));
    var routes = d.routes.slice(0, 8);
    if (!routes.length) appendAll(top, [el("tr", null, el("td", { "class": "muted" }, "No per-route statistics in this run."))]);
    else appendAll(top, [el("tr", null, el("th", null, "route"), el("th", { "class": "num" }, "mean"), el("th", { "class": "num" }, "p95"), el("th", { "class": "num" }, "max"), el("th", { "class": "num" }, "requests"))]);
    routes.forEach(function (r) {
      appendAll(top, [el("tr", null, el("td", { "class": "route-name" }, r.route || "(no route)"), el("td", { "class": "num" }, r.mean.toFixed(1)), el("td", { "class": "num" }, int(r.p95)), el("td", { "class": "num" }, int(r.max)), el("td", { "class": "num" }, int(r.requests)))]);
    });
  }

  function kindTitle(d, id) {
    var k = d.summary.by_kind.filter(function (k) { return k[0] === id; })[0];
    return k ? k[1] : id;
  }

  function renderOmitted(d) {
    var o = d.omitted, parts = [];
    if (o.findings) parts.push(plural(o.findings, "finding") + " (" + o.findings_by_kind.map(function (k) { return int(k[1]) + " " + kindTitle(d, k[0]); }).join(", ") + ") — the " + int(d.findings.length) + " most severe and costly are shown");
    if (o.fingerprints) parts.push(plural(o.fingerprints, "less busy fingerprint"));
    if (o.routes) parts.push(plural(o.routes, "quieter route"));
    if (o.waterfalls_cut) parts.push("the tail of " + plural(o.waterfalls_cut, "long waterfall"));
    if (!parts.length) return;
    var p = $("omitted");
    p.hidden = false;
    p.textContent = "To keep this file small, it leaves out: " + parts.join("; ") + ". The JSON output has everything.";
  }

  // ---------- waterfall ----------
  // Places bars on a time axis when the request has a time span, else one slot per statement.
  function layout(bars, names) {
    var min = Infinity, max = -Infinity;
    bars.forEach(function (b) { min = Math.min(min, b[0]); max = Math.max(max, b[0] + (b[1] || 0)); });
    var timed = bars.length > 0 && max > min;
    return {
      timed: timed, span: timed ? max - min : Math.max(bars.length, 1),
      items: bars.map(function (b, i) {
        var fp = names ? names[b[3]] : b[3];
        return timed ? { x: b[0] - min, w: b[1], role: b[2], fp: fp } : { x: i, w: null, role: b[2], fp: fp, slot: true };
      })
    };
  }

  // The same request after the fix: the children of each shape collapse into one batched
  // statement as long as that shape's slowest child (one per shape for M×N+1); later
  // statements move left by the time saved.
  function afterFix(lay) {
    var kids = lay.items.filter(function (it) { return it.role === "c"; });
    if (!kids.length) return null;
    var start = Infinity, end = -Infinity, shapes = [], slowest = {};
    kids.forEach(function (k) {
      start = Math.min(start, k.x);
      end = Math.max(end, k.x + (k.slot ? 1 : (k.w || 0)));
      if (!Object.prototype.hasOwnProperty.call(slowest, k.fp)) { slowest[k.fp] = null; shapes.push(k.fp); }
      if (k.w != null) slowest[k.fp] = Math.max(slowest[k.fp] || 0, k.w);
    });
    var batches = [], at = start;
    shapes.forEach(function (fp) {
      var w = lay.timed ? slowest[fp] : null;
      batches.push({ x: at, w: w, role: "b", fp: fp, slot: !lay.timed });
      at += lay.timed ? (w || 0) : 1;
    });
    var batchEnd = at, saved = Math.max(0, end - batchEnd), out = [], done = false;
    lay.items.forEach(function (it) {
      if (it.role === "c") {
        if (!done) out = out.concat(batches);
        done = true;
        return;
      }
      var x = it.x >= end ? it.x - saved : it.x > start ? Math.max(batchEnd, it.x - saved) : it.x;
      out.push({ x: x, w: it.w, role: it.role, fp: it.fp, slot: it.slot });
    });
    return { timed: lay.timed, span: lay.span, items: out, batches: batches.length };
  }

  // What replaces the children after the fix: declared with each kind's detector.
  var KINDS = [];
  function fixText(id) {
    var k = KINDS.filter(function (k) { return k[0] === id; })[0];
    return k ? k[3] : "statements replaced by the suggested fix";
  }
  var ROLE_NAME = { p: "parent (the 1)", c: "child (the N)", o: "other statement", b: "batched replacement (sketch)" };

  function drawWaterfall(lay, span, sqlOf, label) {
    var W = 560, pad = 8, top = 18, n = lay.items.length;
    var h = Math.max(2, Math.min(12, Math.floor(260 / Math.max(n, 1)))), gap = h > 4 ? 2 : 0;
    var H = top + n * (h + gap) + 6, scale = (W - 2 * pad - 34) / span, tick = 4;
    var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": label, "class": "waterfall" });
    appendAll(svg, [axis(lay.timed, span, scale, pad, top, H)]);
    appendAll(svg, [combBracket(lay.items, h, gap, top, W)]);
    lay.items.forEach(function (it, i) {
      var w = it.slot ? Math.max(2, Math.min(10, scale * 0.6)) : it.w == null ? tick : Math.max(2, it.w * scale);
      var rect = sv("rect", { x: (pad + it.x * scale).toFixed(2), y: top + i * (h + gap), width: w.toFixed(2), height: h, rx: h > 4 ? 1.5 : 0, "class": "bar-" + it.role, "data-role": { p: "parent", c: "child", o: "other", b: "batched" }[it.role] },
        sv("title", null, ROLE_NAME[it.role] + (it.w != null ? ", " + dur(it.w) : "") + (lay.timed ? ", at +" + dur(it.x) : "") + "\n" + (sqlOf(it.fp) || "fingerprint " + it.fp)));
      appendAll(svg, [rect]);
      if (it.role === "p" && n <= 60) appendAll(svg, [sv("text", { x: (pad + it.x * scale + w + 4).toFixed(2), y: top + i * (h + gap) + h, "class": "plabel" }, "parent")]);
    });
    return svg;
  }

  // A bracket at the right edge spanning the child rows, labelled with their count: the comb.
  function combBracket(items, h, gap, top, W) {
    var first = -1, last = -1, n = 0;
    items.forEach(function (it, i) { if (it.role === "c") { if (first < 0) first = i; last = i; n++; } });
    if (n < 2) return null;
    var y0 = top + first * (h + gap), y1 = top + last * (h + gap) + h, x = W - 30;
    return sv("g", { "class": "comb", "aria-hidden": "true" },
      sv("path", { d: "M" + (x - 5) + " " + y0 + "H" + x + "V" + y1 + "H" + (x - 5), fill: "none" }),
      sv("text", { x: x + 3, y: (y0 + y1) / 2 + 4 }, "×" + n));
  }

  function axis(timed, span, scale, pad, top, H) {
    var g = sv("g", { "aria-hidden": "true" });
    appendAll(g, [sv("line", { x1: pad, x2: pad + span * scale, y1: top - 4, y2: top - 4, "class": "axis" })]);
    // Time: five evenly spaced labels. Sequence: label whole statement numbers, #1 first.
    var marks = [], i;
    if (timed) for (i = 0; i <= 4; i++) marks.push([span * i / 4, "+" + dur(span * i / 4)]);
    else for (i = 0; i < span; i += Math.max(1, Math.ceil(span / 6))) marks.push([i, "#" + (i + 1)]);
    marks.forEach(function (m, k) {
      var x = pad + m[0] * scale;
      appendAll(g, [sv("line", { x1: x, x2: x, y1: top - 7, y2: H, "class": "axis", "stroke-dasharray": "2 3" }),
        sv("text", { x: x, y: 10, "text-anchor": k === 0 ? "start" : timed && k === marks.length - 1 ? "end" : "middle" }, m[1])]);
    });
    return g;
  }

  // A finding without a recorded waterfall still gets its shape drawn: parent, then N ticks.
  function schematicBars(f) {
    var bars = [];
    if (f.parent) bars.push([0, null, "p", f.parent.fingerprint]);
    if (!f.children.length) return [];
    for (var i = 0, n = Math.min(f.count, 300); i < n; i++) bars.push([0, null, "c", f.children[i % f.children.length].fingerprint]);
    return bars;
  }

  function waterfallFigure(f, sqlOf) {
    var recorded = f.waterfall.length > 0, bars = recorded ? f.waterfall : schematicBars(f);
    if (!bars.length) return el("p", { "class": "muted" }, "No waterfall: the input recorded no statement timeline for this request.");
    var lay = layout(bars, recorded ? BAR_FPS : null), fixed = afterFix(lay), kids = bars.filter(function (b) { return b[2] === "c"; }).length;
    // The request may have run more statements than were recorded or embedded as bars.
    var total = Math.max(bars.length, recorded ? f.request.statements || 0 : 0, bars.length + (f.waterfall_cut || 0));
    var note = recorded ? (lay.timed ? (bars.some(function (b) { return b[1] == null; }) ? " Statements without a duration are drawn as fixed-width ticks." : "") : " The log has no timing for these statements: one slot per statement, in order.")
      : " No waterfall was recorded for this request: a schematic of " + (f.parent ? "the parent and its " + int(f.count) + " children." : "the " + int(f.count) + " repetitions.");
    var before = el("figure", { "class": "before" },
      el("figcaption", null, "This request: " + plural(total, "statement") + (total > bars.length ? " (" + int(bars.length) + " drawn)" : "") + ", the comb of " + int(kids) + " highlighted." + note),
      drawWaterfall(lay, lay.span, sqlOf, "Waterfall of the request: " + kids + " repeated child statements highlighted"));
    var parts = [before];
    if (fixed) {
      parts.push(el("figure", { "class": "after" },
        el("figcaption", null, "After the fix (sketch): " + plural(Math.max(fixed.items.length, total - kids + fixed.batches), "statement") + ", the " + int(kids) + " " + fixText(f.kind) + (fixed.items.some(function (it) { return it.role === "b" && it.w != null; }) ? ", taking as long as the slowest child." : ".")),
        drawWaterfall(fixed, lay.span, sqlOf, "Sketch of the request after the fix")));
    }
    return el("div", null, el("div", { "class": "wf" }, parts),
      el("div", { "class": "legend", "aria-hidden": "true" },
        ["p", "c", "o", "b"].map(function (r) { return el("span", null, el("i", { "class": "sw sw-" + r }), ROLE_NAME[r]); })));
  }

  // ---------- findings ----------
  function findingsView(d, sqlOf) {
    var expanded = {};
    var f = { kind: "", sev: "", route: null, table: null, text: "" };
    d.findings.forEach(function (x, i) { x._i = i; x._text = [x.message, x.signature, x.request.route, x.request.id, x.table, x.suggestion, x.parent && x.parent.sql]
      .concat(x.children.map(function (c) { return c.sql; })).filter(Boolean).join("\n").toLowerCase(); });

    fillSelect("f-kind", d.summary.by_kind.filter(function (k) { return d.findings.some(function (x) { return x.kind === k[0]; }); }).map(function (k) { return [k[0], k[1]]; }));
    fillSelect("f-sev", ["error", "warning", "info"].filter(function (s) { return d.findings.some(function (x) { return x.severity === s; }); }).map(function (s) { return [s, s]; }));
    fillSelect("f-route", distinct(d.findings, function (x) { return x.request.route || ""; }).map(function (r) { return [r, r || "(no route)"]; }));
    fillSelect("f-table", distinct(d.findings, function (x) { return x.table || ""; }).map(function (t) { return [t, t || "(no table)"]; }));

    var table = new Table({
      grid: "f-grid", body: "f-body", pager: "f-pager", key: "severity", dir: -1,
      defaultDir: function (k) { return k === "kind" || k === "route" || k === "table" ? 1 : -1; },
      rows: function () { return d.findings.filter(matches); },
      sortValue: function (x, k) {
        return k === "severity" ? SEV_RANK[x.severity] || 0 : k === "kind" ? x.kind_title : k === "route" ? x.request.route || "" : k === "table" ? x.table || ""
          : k === "count" ? x.count : k === "time" ? x.total_duration_us : x.occurrences;
      },
      tieBreak: function (a, b) { return (b.total_duration_us || 0) * b.occurrences - (a.total_duration_us || 0) * a.occurrences || b.total_count - a.total_count || a._i - b._i; },
      row: function (x) { return findingRows(x); },
      after: function (shown) {
        $("f-count").textContent = shown === d.findings.length ? plural(shown, "finding") + " shown." : int(shown) + " of " + plural(d.findings.length, "finding") + " match the filters.";
      }
    });

    function matches(x) {
      return (!f.kind || x.kind === f.kind) && (!f.sev || x.severity === f.sev) && (f.route === null || (x.request.route || "") === f.route)
        && (f.table === null || (x.table || "") === f.table) && (!f.text || x._text.indexOf(f.text) >= 0);
    }

    function findingRows(x) {
      var id = "finding-" + x._i, open = !!expanded[x._i];
      var btn = el("button", { type: "button", "class": "exp", "aria-expanded": String(open), "aria-controls": id, "data-kind": x.kind },
        el("span", null, x.kind_title, " ", el("small", null, x.message)));
      var detail = el("tr", { id: id, "class": "detail", hidden: !open, "data-signature": x.signature });
      btn.addEventListener("click", function () {
        expanded[x._i] = !expanded[x._i];
        btn.setAttribute("aria-expanded", String(!!expanded[x._i]));
        detail.hidden = !expanded[x._i];
        if (expanded[x._i] && !detail.firstChild) appendAll(detail, [el("td", { colspan: 7 }, evidence(x, sqlOf))]);
      });
      if (open) appendAll(detail, [el("td", { colspan: 7 }, evidence(x, sqlOf))]);
      var row = el("tr", { "class": "finding", "data-kind": x.kind, "data-severity": x.severity, "data-signature": x.signature },
        el("td", null, btn), el("td", null, el("span", { "class": "sev sev-" + x.severity }, x.severity)),
        el("td", { "class": "route-name" }, x.request.route || "–"), el("td", null, x.table || "–"),
        el("td", { "class": "num" }, int(x.count)), el("td", { "class": "num" }, dur(x.total_duration_us)), el("td", { "class": "num" }, int(x.occurrences)));
      return [row, detail];
    }

    function bind(id, prop, map) {
      var input = $(id), ev = input.tagName === "INPUT" ? "input" : "change";
      input.addEventListener(ev, function () { f[prop] = map(input.value); table.page = 0; table.render(); });
    }
    bind("f-kind", "kind", String); bind("f-sev", "sev", String);
    bind("f-route", "route", function (v) { return v === "\u0000all" ? null : v; });
    bind("f-table", "table", function (v) { return v === "\u0000all" ? null : v; });
    bind("f-text", "text", function (v) { return v.trim().toLowerCase(); });
    table.render();
  }

  function fillSelect(id, options) {
    var s = clear($(id)), all = id === "f-route" || id === "f-table" ? "\u0000all" : "";
    appendAll(s, [el("option", { value: all }, "all")]);
    options.slice(0, 1000).forEach(function (o) { appendAll(s, [el("option", { value: o[0] }, o[1])]); });
  }
  function distinct(rows, key) {
    var seen = {}, out = [];
    rows.forEach(function (r) { var k = key(r); if (!Object.prototype.hasOwnProperty.call(seen, k)) { seen[k] = 1; out.push(k); } });
    return out.sort();
  }

  function evidence(x, sqlOf) {
    var r = x.request, dl = el("dl", { "class": "ev" });
    function row(label, value) { if (value != null && value !== "" && value !== false) appendAll(dl, [el("dt", null, label), el("dd", null, value)]); }
    function sql(q) { return [el("pre", { "class": "sql" }, q.sql), el("span", { "class": "muted" }, "fingerprint " + q.fingerprint + (q.table ? " · table " + q.table : "") + (q.line ? " · line " + q.line : "")),
      q.params ? el("div", { "class": "muted" }, "example parameters: " + q.params.join(", ")) : null]; }
    row("What", x.message);
    row("Request", [r.route ? "route " + r.route : r.kind + " " + r.id, r.trace_id ? " · trace " + r.trace_id : "", " · session " + r.session,
      when(r.start_us) ? " · " + when(r.start_us) : "", " · " + plural(r.statements, "statement"), r.line ? " · starts at line " + r.line : ""].join(""));
    if (x.parent) row("Parent (the 1)", sql(x.parent));
    x.children.forEach(function (c, i) { row(x.children.length > 1 ? "Child " + (i + 1) + " (the N)" : "Child (the N)", sql(c)); });
    row("N", int(x.count) + " times in this request, with " + plural(x.distinct_params, "distinct parameter set"));
    row("Time", x.total_duration_us != null ? dur(x.total_duration_us) + " in the repeated statements of this request" + (x.count ? " (" + dur(x.total_duration_us / x.count) + " each)" : "") : "unknown: the log has no durations");
    row("Occurrences", plural(x.occurrences, "request") + " showed this pattern, " + plural(x.total_count, "repeated statement") + " in all");
    row("Proof", x.proof === "proven" ? "proven: " + int(x.matched) + " child parameter values were among the parent's returned values" : "suspected: inferred from the statement sequence");
    row("Fix", x.suggestion ? el("pre", { "class": "sql fix" }, x.suggestion) : "No safe automatic rewrite is known for this shape.");
    row("Signature", el("code", null, x.signature));
    return [dl, waterfallFigure(x, sqlOf)];
  }

  // ---------- fingerprints ----------
  function fingerprintsView(d) {
    var t = new Table({
      grid: "fp-grid", body: "fp-body", pager: "fp-pager", key: "total_us", dir: -1,
      defaultDir: function (k) { return k === "sql" || k === "table" ? 1 : -1; },
      rows: function () { return d.fingerprints; },
      sortValue: function (s, k) { return k === "sql" ? s.sql : k === "table" ? s.table || "" : s[k]; },
      tieBreak: function (a, b) { return b.calls - a.calls || (a.fingerprint < b.fingerprint ? -1 : 1); },
      row: function (s) {
        return el("tr", null, el("td", { "class": "sqlcell" }, el("code", { "class": "sql", title: "fingerprint " + s.fingerprint }, s.sql)), el("td", null, s.table || "–"),
          el("td", { "class": "num" }, int(s.calls)), el("td", { "class": "num" }, s.mean_us == null ? "–" : dur(s.total_us)),
          el("td", { "class": "num" }, dur(s.mean_us)), el("td", { "class": "num" }, int(s.rows)), el("td", { "class": "num" }, int(s.requests)));
      }
    });
    if (!d.fingerprints.length) appendAll(clear($("fp-body")), [el("tr", null, el("td", { colspan: 7, "class": "muted" }, "No per-fingerprint statistics in this run."))]);
    else t.render();
  }

  // ---------- statements per request, by route ----------
  function routesView(d) {
    var box = clear($("route-chart"));
    if (!d.routes.length) { appendAll(box, [el("p", { "class": "muted" }, "No per-route statistics in this run.")]); return; }
    var xmax = 1, shown = 30;
    d.routes.forEach(function (r) { xmax = Math.max(xmax, r.max); });
    var tbl = el("table", { "class": "grid" }, el("thead", null, el("tr", null,
      ["Route", "Requests", "p50", "p95", "Max", "Distribution (0 – " + int(xmax) + " statements)"].map(function (h, i) { return el("th", { scope: "col", "class": i && i < 5 ? "num" : null }, el("span", { "class": "thpad" }, h)); }))));
    var body = el("tbody");
    function draw(limit) {
      clear(body);
      d.routes.slice(0, limit).forEach(function (r) {
        appendAll(body, [el("tr", null, el("td", { "class": "route-name" }, r.route || "(no route)"), el("td", { "class": "num" }, int(r.requests)),
          el("td", { "class": "num" }, int(r.p50)), el("td", { "class": "num" }, int(r.p95)), el("td", { "class": "num" }, int(r.max)), el("td", null, histogram(r, xmax)))]);
      });
    }
    draw(shown);
    appendAll(box, [el("div", { "class": "scroll" }, tbl)]);
    appendAll(tbl, [body]);
    if (d.routes.length > shown) {
      var more = el("button", { type: "button" }, "Show all " + int(d.routes.length) + " routes");
      more.addEventListener("click", function () { draw(d.routes.length); more.remove(); });
      appendAll(box, [el("p", null, more)]);
    }
  }

  function histogram(r, xmax) {
    var W = 360, H = 34, pad = 2, scale = (W - 2 * pad) / (xmax + 1), ymax = 1;
    r.histogram.forEach(function (b) { ymax = Math.max(ymax, b[1]); });
    var bw = Math.max(1, scale * 0.85);
    var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": "statements per request for " + (r.route || "requests without a route") + ": median " + r.p50 + ", p95 " + r.p95 + ", max " + r.max });
    appendAll(svg, [sv("line", { x1: pad, x2: W - pad, y1: H - 0.5, y2: H - 0.5, "class": "axis" })]);
    r.histogram.forEach(function (b) {
      var h = Math.max(1, (H - 4) * b[1] / ymax);
      appendAll(svg, [sv("rect", { x: (pad + b[0] * scale).toFixed(2), y: (H - 1 - h).toFixed(2), width: bw.toFixed(2), height: h.toFixed(2), "class": "hist" },
        sv("title", null, int(b[1]) + " requests ran " + plural(b[0], "statement")))]);
    });
    [["mark50", r.p50], ["mark95", r.p95]].forEach(function (m) {
      var x = (pad + (m[1] + 0.42) * scale).toFixed(2);
      appendAll(svg, [sv("line", { x1: x, x2: x, y1: 0, y2: H, "class": m[0] })]);
    });
    return svg;
  }

  // ---------- start ----------
  function sqlLookup(d) {
    var m = {};
    d.fingerprints.forEach(function (s) { m[s.fingerprint] = s.sql; });
    d.findings.forEach(function (x) { (x.parent ? [x.parent] : []).concat(x.children).forEach(function (q) { m[q.fingerprint] = q.sql; }); });
    return function (fp) { return Object.prototype.hasOwnProperty.call(m, fp) ? m[fp] : null; };
  }

  function main() {
    initTheme();
    var d;
    try {
      d = JSON.parse($("data").textContent);
      if (d.version !== 1) throw new Error("this page reads report data version 1, the file has version " + d.version);
      BAR_FPS = d.bar_fingerprints || [];
      KINDS = d.summary.by_kind || [];
      renderSummary(d);
      renderOmitted(d);
      var sqlOf = sqlLookup(d);
      findingsView(d, sqlOf);
      fingerprintsView(d);
      routesView(d);
    } catch (e) {
      var p = $("error");
      p.hidden = false;
      p.textContent = "The report could not be rendered: " + e.message;
      throw e;
    }
  }
  main();
})();
