// maptask console: three pages over one store, kept live by server-sent events.
// No framework, no build step: the server embeds this file as it is.
"use strict";

const STATES = ["waiting", "running", "succeeded", "cached", "failed", "not run"];
const COLORS = ["#d9dde3", "#2f74d0", "#2e9d4f", "#7cc99a", "#d1352b", "#9aa0a6"];
const $ = (sel, root) => (root || document).querySelector(sel);

// el builds an element: el("td", {class: "num"}, "12", child...). Text is
// always set as text, never as HTML.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) {
    if (k == null) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

// The banner holds two messages: "read", what the page last read (replaced
// by every update), and "action", the answer to the user's last cancel or
// change (kept until the next action or page). Without the two slots the next
// update, a fraction of a second later, would erase a refusal unread.
const errors = { read: "", action: "" };

function showError(msg, slot = "read") {
  errors[slot] = msg || "";
  const box = $("#error");
  const text = [errors.action, errors.read].filter(Boolean).join(" — ");
  box.hidden = !text;
  box.textContent = text;
}

function clearErrors() {
  errors.action = "";
  showError("");
}

function setConn(text, bad) {
  const c = $("#conn");
  c.textContent = text;
  c.classList.toggle("bad", !!bad);
}

async function fetchJSON(url, opts) {
  let r;
  try {
    r = await fetch(url, opts);
  } catch (e) {
    throw new Error("the console server cannot be reached (" + e.message + ")");
  }
  let body;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || (r.status + " " + r.statusText));
  return body;
}

const fmt = {
  n: (x) => (x == null ? "-" : Number(x).toLocaleString("en-US")),
  time: (t) => (t ? new Date(t).toLocaleString() : "-"),
  dur(ms) {
    if (ms == null) return "-";
    if (ms < 1000) return (Math.round(ms * 10) / 10) + " ms";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m" + Math.round(s % 60) + "s";
    return Math.floor(m / 60) + "h" + (m % 60) + "m";
  },
  bytes(b) {
    if (b < 1024) return b + " B";
    if (b < 1 << 20) return (b / 1024).toFixed(1) + " KiB";
    return (b / (1 << 20)).toFixed(1) + " MiB";
  },
};

function verdictBadge(s) {
  if (s.live) {
    return el("span", { class: "badge running" }, s.cancelling ? "cancelling" : "running");
  }
  return el("span", { class: "badge " + s.outcome }, s.outcome);
}

// durationOf is how long an execution has run: until now while it runs, else
// until its last record or verdict (a resumed execution counts its pauses).
function durationOf(s) {
  const end = s.live ? Date.now() : (s.updated ? Date.parse(s.updated) : NaN);
  const ms = end - Date.parse(s.created);
  return isFinite(ms) && ms >= 0 ? ms : null;
}

function progressBar(s, wide) {
  const bar = el("div", { class: "bar" + (wide ? " wide" : ""), title: `${s.succeeded} succeeded, ${s.failed} failed, ${s.running} running, ${s.not_run} not run of ${s.n}` });
  const parts = [["s-succeeded", s.succeeded - s.cached], ["s-cached", s.cached], ["s-failed", s.failed], ["s-running", s.running], ["s-notrun", s.not_run]];
  for (const [cls, v] of parts) {
    if (v > 0 && s.n > 0) {
      const span = el("span", { class: cls });
      span.style.width = (100 * v / s.n) + "%";
      bar.append(span);
    }
  }
  return bar;
}

// ---- routing -------------------------------------------------------------

let page = null; // the current page's cleanup

function route() {
  if (page) page();
  page = null;
  clearErrors();
  $("#tip").hidden = true;
  const h = location.hash.replace(/^#\/?/, "");
  const crumbs = $("#crumbs");
  crumbs.replaceChildren();
  let parts;
  try {
    parts = h.split("/").filter(Boolean).map(decodeURIComponent);
  } catch (e) { // a cut or mistyped %-escape
    crumbs.append(el("a", { href: "#/" }, "executions"));
    $("#main").replaceChildren(el("p", { class: "muted" }, "Nothing to show here."));
    showError(`Bad address "#${h}": ${e.message}`);
    return;
  }
  if (parts[0] === "e" && parts.length === 2) {
    crumbs.append(el("a", { href: "#/" }, "executions"), el("span", { class: "sep" }, "/"), parts[1]);
    page = executionPage(parts[1]);
  } else if (parts[0] === "e" && parts.length === 3) {
    crumbs.append(el("a", { href: "#/" }, "executions"), el("span", { class: "sep" }, "/"),
      el("a", { href: "#/e/" + encodeURIComponent(parts[1]) }, parts[1]), el("span", { class: "sep" }, "/"), "element " + parts[2]);
    page = elementPage(parts[1], parts[2]);
  } else {
    crumbs.append("executions");
    page = listPage();
  }
}

// stream opens an EventSource and reports its state in the header.
function stream(url, handlers) {
  const es = new EventSource(url);
  es.onopen = () => setConn("live");
  es.onerror = () => setConn("connection to the console lost; retrying…", true);
  for (const [ev, fn] of Object.entries(handlers)) {
    es.addEventListener(ev, (m) => {
      setConn("live");
      try { fn(JSON.parse(m.data)); } catch (e) { showError("bad event from the server: " + e.message); }
    });
  }
  return () => es.close();
}

// ---- executions list ----------------------------------------------------

const listView = { sort: "created", asc: false, filter: "", status: "all" };

function listPage() {
  const main = $("#main");
  const filter = el("input", { type: "search", placeholder: "filter: id, command, backend…", id: "filter", value: listView.filter });
  const status = el("select", { id: "status-filter" },
    ...["all", "running", "succeeded", "failed", "cancelled"].map((s) => el("option", { value: s, selected: s === listView.status }, s)));
  const count = el("span", { class: "muted", id: "list-count" });
  const table = el("table", { id: "executions" });
  const bad = el("div", { id: "bad" });
  const stats = el("div", { class: "stats", id: "list-stats" });
  main.replaceChildren(el("div", { class: "toolbar" }, filter, status, count), table, bad, stats);
  let data = null;
  const cols = [
    ["id", "ID"], ["command", "Command / task"], ["backend", "Backend"], ["created", "Created"], ["duration", "Duration", 1], ["n", "Inputs", 1],
    ["succeeded", "Succeeded", 1], ["failed", "Failed", 1], ["running", "Running", 1], ["not_run", "Not run", 1],
    ["cached", "Cached", 1], ["progress", "Progress"], ["outcome", "Verdict"], ["required", "Required", 1],
  ];
  const draw = () => {
    if (!data) return;
    showError(data.error ? "Cannot list the store: " + data.error : "");
    const q = listView.filter.toLowerCase();
    let rows = data.executions.filter((s) => {
      if (q && ![s.id, s.command, s.task, s.backend, s.outcome].join(" ").toLowerCase().includes(q)) return false;
      if (listView.status === "running") return s.live;
      if (listView.status !== "all") return !s.live && s.outcome === listView.status;
      return true;
    });
    const key = listView.sort;
    const val = (s) => (key === "outcome" ? (s.live ? "running" : s.outcome) : key === "created" ? s.created : key === "duration" ? durationOf(s) : key === "progress" ? (s.n ? (s.succeeded + s.failed) / s.n : 0) : s[key]);
    rows.sort((a, b) => {
      const x = val(a), y = val(b);
      const c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return listView.asc ? c : -c;
    });
    const head = el("tr", {}, ...cols.map(([k, label, num]) => el("th", {
      class: "sortable" + (num ? " num" : "") + (k === key ? " sorted" + (listView.asc ? " asc" : "") : ""), "data-col": k,
      onclick: () => { if (listView.sort === k) listView.asc = !listView.asc; else { listView.sort = k; listView.asc = k === "id" || k === "command"; } draw(); },
    }, label)));
    const body = rows.map((s) => el("tr", { "data-id": s.id },
      el("td", { class: "nowrap" }, el("a", { href: "#/e/" + encodeURIComponent(s.id) }, s.id)),
      el("td", { class: "cmd", title: s.command }, s.command),
      el("td", {}, s.backend || "-"),
      el("td", { class: "nowrap" }, fmt.time(s.created)),
      el("td", { class: "num", title: s.live ? "so far" : "from its creation to its last record or verdict" }, fmt.dur(durationOf(s))),
      el("td", { class: "num" }, fmt.n(s.n)),
      el("td", { class: "num", "data-k": "succeeded" }, fmt.n(s.succeeded)),
      el("td", { class: "num", "data-k": "failed" }, fmt.n(s.failed)),
      el("td", { class: "num", "data-k": "running" }, s.live ? fmt.n(s.running) : "-"),
      el("td", { class: "num", "data-k": "not_run" }, fmt.n(s.not_run)),
      el("td", { class: "num" }, fmt.n(s.cached)),
      el("td", {}, progressBar(s)),
      el("td", {}, verdictBadge(s), s.error ? el("div", { class: "warn" }, s.error) : null),
      el("td", { class: "num", title: s.required_from ? "from the " + s.required_from : "known at the end of the run" }, s.required_from ? fmt.n(s.required) : "-"),
    ));
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
    count.textContent = `${rows.length} of ${data.executions.length} executions`;
    if (!data.executions.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, "No executions in this store yet."))));
    bad.replaceChildren(...(data.bad || []).map((b) => el("div", { class: "warn" }, `execution ${b.id} cannot be read: ${b.error}`)));
    if (data.stats) stats.textContent = `read from the store by live updates: ${fmt.bytes(data.stats.JournalBytes)} of journal in ${fmt.n(data.stats.Listings)} listings, ${fmt.n(data.stats.SmallReads)} small reads, ${fmt.n(data.stats.Scans)} scans`;
  };
  filter.addEventListener("input", () => { listView.filter = filter.value; draw(); });
  status.addEventListener("change", () => { listView.status = status.value; draw(); });
  fetchJSON("/api/executions").then((d) => { if (!data) { data = d; draw(); } }).catch((e) => showError(e.message));
  return stream("/api/events", { list: (d) => { data = d; draw(); } });
}

// ---- one execution --------------------------------------------------------

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Grid draws one cell per element on a canvas, into an ImageData buffer.
class Grid {
  constructor(canvas, onOpen) {
    this.canvas = canvas;
    this.states = new Uint8Array(0);
    this.onOpen = onOpen;
    this.rgba = COLORS.map((c) => {
      const v = parseInt(c.slice(1), 16);
      return (255 << 24) | ((v & 0xff) << 16) | (v & 0xff00) | (v >> 16); // little-endian ABGR
    });
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("mouseleave", () => { $("#tip").hidden = true; });
    canvas.addEventListener("click", (e) => { const i = this.at(e); if (i >= 0) this.onOpen(i); });
  }
  layout(n) {
    const width = Math.max(200, this.canvas.parentElement.clientWidth || 1000);
    let cell = Math.floor(Math.sqrt((width * 520) / Math.max(n, 1)));
    cell = Math.max(2, Math.min(18, cell));
    this.gap = cell >= 6 ? 1 : 0;
    this.cell = cell;
    this.cols = Math.max(1, Math.floor(width / cell));
    this.rows = Math.ceil(n / this.cols);
    this.canvas.width = this.cols * cell;
    this.canvas.height = Math.max(1, this.rows * cell);
    this.ctx = this.canvas.getContext("2d");
    this.img = this.ctx.createImageData(this.canvas.width, this.canvas.height);
    this.px = new Uint32Array(this.img.data.buffer);
    this.px.fill(0x00ffffff);
    this.canvas.setAttribute("data-cell", String(cell));
    this.canvas.setAttribute("data-cols", String(this.cols));
  }
  paint(i) {
    const c = this.rgba[this.states[i]] || this.rgba[0];
    const x0 = (i % this.cols) * this.cell, y0 = Math.floor(i / this.cols) * this.cell;
    const w = this.canvas.width, size = this.cell - this.gap;
    for (let y = 0; y < size; y++) {
      const row = (y0 + y) * w + x0;
      for (let x = 0; x < size; x++) this.px[row + x] = c;
    }
  }
  full(states) {
    if (states.length !== this.states.length || !this.px) { this.states = states; this.layout(states.length); } else this.states = states;
    for (let i = 0; i < states.length; i++) this.paint(i);
    this.ctx.putImageData(this.img, 0, 0);
  }
  delta(bytes) {
    const dv = new DataView(bytes.buffer);
    for (let k = 0; k + 5 <= bytes.length; k += 5) {
      const i = dv.getUint32(k, true);
      if (i < this.states.length) { this.states[i] = bytes[k + 4]; this.paint(i); }
    }
    this.ctx.putImageData(this.img, 0, 0);
  }
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    const sx = this.canvas.width / r.width, sy = this.canvas.height / r.height;
    const col = Math.floor(((e.clientX - r.left) * sx) / this.cell), row = Math.floor(((e.clientY - r.top) * sy) / this.cell);
    if (col < 0 || col >= this.cols || row < 0) return -1;
    const i = row * this.cols + col;
    return i < this.states.length ? i : -1;
  }
  hover(e) {
    const i = this.at(e), tip = $("#tip");
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = `element ${i}: ${STATES[this.states[i]] || "?"}`;
    tip.style.left = e.clientX + 12 + "px";
    tip.style.top = e.clientY + 12 + "px";
    tip.hidden = false;
  }
}

function drawHistogram(canvas, h) {
  const W = canvas.width = Math.max(300, canvas.parentElement.clientWidth), H = canvas.height = 140;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, W, H);
  const max = Math.max(1, ...h.counts);
  const bw = (W - 40) / h.counts.length;
  ctx.fillStyle = "#2f74d0";
  h.counts.forEach((c, k) => {
    const bh = ((H - 30) * c) / max;
    ctx.fillRect(30 + k * bw, H - 20 - bh, Math.max(1, bw - 1), bh);
  });
  ctx.fillStyle = "#69717a";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText("0", 30, H - 6);
  const right = fmt.dur(h.max_ms);
  ctx.fillText(right, W - 10 - ctx.measureText(right).width, H - 6);
  ctx.fillText(fmt.n(max), 0, 12);
}

// drawTimeline stacks, for each span of time, the elements that finished in
// it: succeeded below, failed above.
function drawTimeline(canvas, t) {
  const W = canvas.width = Math.max(300, canvas.parentElement.clientWidth), H = canvas.height = 110;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, W, H);
  const n = t.succeeded.length;
  const max = Math.max(1, ...t.succeeded.map((c, k) => c + t.failed[k]));
  const bw = (W - 40) / n;
  t.succeeded.forEach((c, k) => {
    const hs = ((H - 30) * c) / max, hf = ((H - 30) * t.failed[k]) / max;
    ctx.fillStyle = COLORS[2];
    ctx.fillRect(30 + k * bw, H - 20 - hs, Math.max(1, bw - 1), hs);
    ctx.fillStyle = COLORS[4];
    ctx.fillRect(30 + k * bw, H - 20 - hs - hf, Math.max(1, bw - 1), hf);
  });
  ctx.fillStyle = "#69717a";
  ctx.font = "11px system-ui, sans-serif";
  if (t.start) {
    ctx.fillText(fmt.time(t.start), 30, H - 6);
    const right = fmt.time(t.end);
    ctx.fillText(right, W - 10 - ctx.measureText(right).width, H - 6);
  }
  ctx.fillText(fmt.n(max), 0, 12);
}

// attemptBars draws an element's attempts along time, from its journal
// records: an attempt runs from its start record to the next start or to
// the element's final record (or now, while it runs).
function attemptBars(records) {
  const starts = records.filter((r) => r.status === "running" && r.time);
  const final = records.find((r) => (r.status === "succeeded" || r.status === "failed") && r.time && !r.cached);
  if (!starts.length) return null;
  const spans = starts.map((r, k) => {
    const from = Date.parse(r.time);
    let next = k + 1 < starts.length ? Date.parse(starts[k + 1].time) : (final ? Date.parse(final.time) : Date.now());
    // A lone attempt's own duration is known; a final record may be written a little after it ended.
    if (starts.length === 1 && final && final.duration_ms > 0) next = Math.min(next, from + final.duration_ms);
    const last = k + 1 === starts.length;
    return { attempt: r.attempt, from, to: Math.max(next, from + 1), state: last && final ? final.status : (last ? "running" : "failed") };
  });
  const t0 = spans[0].from, t1 = spans[spans.length - 1].to, span = Math.max(1, t1 - t0);
  const box = el("div", { class: "attempt-bars", id: "attempt-timeline" });
  for (const sp of spans) {
    const bar = el("div", { class: "attempt-bar " + sp.state, title: `attempt ${sp.attempt}: ${sp.state}, ${fmt.dur(sp.to - sp.from)}` }, `${sp.attempt}`);
    bar.style.marginLeft = (100 * (sp.from - t0) / span) + "%";
    bar.style.width = Math.max(0.5, 100 * (sp.to - sp.from) / span) + "%";
    box.append(el("div", { class: "attempt-row" }, bar));
  }
  box.append(el("div", { class: "muted" }, `${fmt.time(new Date(t0).toISOString())} to ${fmt.time(new Date(t1).toISOString())} (${fmt.dur(t1 - t0)})`));
  return box;
}

function confirmModal(text, yes = "Cancel execution", no = "Keep running") {
  return new Promise((resolve) => {
    const m = $("#modal");
    $("#modal-text").textContent = text;
    $("#modal-yes").textContent = yes;
    $("#modal-no").textContent = no;
    m.hidden = false;
    const done = (v) => { m.hidden = true; $("#modal-yes").onclick = $("#modal-no").onclick = null; resolve(v); };
    $("#modal-yes").onclick = () => done(true);
    $("#modal-no").onclick = () => done(false);
  });
}

// describeChange says a change in the words of maptask update.
function describeChange(c) {
  const parts = [];
  if (c.concurrency != null) parts.push("concurrency " + c.concurrency + (c.concurrency === 0 ? " (unbounded)" : ""));
  if (c.min_successes != null) parts.push("min-successes " + c.min_successes);
  if (c.min_success_ratio != null) parts.push("min-success-ratio " + c.min_success_ratio);
  return parts.join(", ");
}

// changeForm asks for a change to a running execution; null when left.
function changeForm(s) {
  return new Promise((resolve) => {
    const m = $("#change-modal"), conc = $("#change-concurrency"), kind = $("#change-bar-kind"), bar = $("#change-bar");
    conc.value = s && s.concurrency >= 0 ? s.concurrency : "";
    $("#change-concurrency-now").textContent = s && s.concurrency >= 0 ? "now " + (s.concurrency || "unbounded") : "";
    $("#change-bar-now").textContent = s && s.required_from ? `now ${fmt.n(s.required)} of ${fmt.n(s.n)}` : "";
    kind.value = ""; bar.hidden = true; bar.value = "";
    kind.onchange = () => { bar.hidden = kind.value === ""; bar.step = kind.value === "ratio" ? "any" : "1"; };
    m.hidden = false;
    const done = (v) => { m.hidden = true; $("#change-form").onsubmit = $("#change-no").onclick = null; resolve(v); };
    $("#change-no").onclick = () => done(null);
    $("#change-form").onsubmit = (ev) => {
      ev.preventDefault();
      const c = {};
      if (conc.value !== "" && !(s && Number(conc.value) === s.concurrency)) c.concurrency = Number(conc.value);
      if (kind.value === "min" && bar.value !== "") c.min_successes = Number(bar.value);
      if (kind.value === "ratio" && bar.value !== "") c.min_success_ratio = Number(bar.value);
      if (!Object.keys(c).length) { done(null); return; }
      done(c);
    };
  });
}

function executionPage(id) {
  const main = $("#main");
  const enc = encodeURIComponent(id);
  const title = el("h1", {}, id);
  const verdict = el("span");
  const cancelBtn = el("button", { id: "cancel", class: "danger", hidden: true }, "Cancel…");
  const changeBtn = el("button", { id: "change", hidden: true }, "Change…");
  const changes = el("div", { id: "changes" });
  const cmd = el("div", { class: "muted cmd-line" });
  const cards = el("div", { class: "cards", id: "cards" });
  const barBox = el("div");
  const warns = el("div");
  const canvas = el("canvas", { class: "grid", id: "grid" });
  const legend = el("div", { class: "legend", id: "legend" });
  const hist = el("canvas", { id: "histogram" });
  const tline = el("canvas", { id: "timeline" });
  const histNote = el("div", { class: "muted" });
  const failed = el("div", { id: "failed" }, el("p", { class: "muted" }, "None yet."));
  const stats = el("div", { class: "stats", id: "exec-stats" });
  main.replaceChildren(
    el("div", { class: "head" }, title, verdict, el("span", { class: "spacer" }), changeBtn, cancelBtn), cmd, cards, barBox, warns, changes,
    el("div", { class: "section" }, el("h2", {}, "Elements"), legend, el("div", { class: "grid-wrap" }, canvas)),
    el("div", { class: "section" }, el("h2", {}, "Failed elements"), failed),
    el("div", { class: "section" }, el("h2", {}, "Durations (finished elements, cached ones left out)"), el("div", { class: "grid-wrap" }, hist), histNote),
    el("div", { class: "section" }, el("h2", {}, "Timeline (elements finished over time: succeeded, failed)"), el("div", { class: "grid-wrap" }, tline)),
    stats,
  );
  const grid = new Grid(canvas, (i) => { location.hash = "#/e/" + enc + "/" + i; });
  let sum = null, failedCount = -1, failedAt = 0, failedTimer = null, rendered = false;
  legend.append(...STATES.map((s, k) => el("span", {}, el("i", { class: "sw-" + k }), s)));
  legend.querySelectorAll("i").forEach((i, k) => { i.style.background = COLORS[k]; });

  const loadFailed = () => {
    failedTimer = null;
    failedAt = Date.now();
    fetchJSON(`/api/executions/${enc}/failed?limit=50`).then((d) => {
      failed.setAttribute("data-total", String(d.total));
      if (!d.failed.length) { failed.replaceChildren(el("p", { class: "muted" }, "None.")); return; }
      const t = el("table", { id: "failed-table" }, el("thead", {}, el("tr", {}, ...["Element", "Input", "Attempts", "Exit", "Duration", "Error", "Error output (tail)"].map((h) => el("th", {}, h)))));
      const tb = el("tbody");
      for (const f of d.failed) {
        tb.append(el("tr", {},
          el("td", {}, el("a", { href: `#/e/${enc}/${f.index}` }, f.index)),
          el("td", { class: "cmd", title: f.input }, f.input),
          el("td", { class: "num" }, f.attempts),
          el("td", { class: "num" }, f.exit == null ? "-" : f.exit),
          el("td", { class: "num" }, fmt.dur(f.duration_ms)),
          el("td", {}, (f.outcome && f.outcome !== "failed" ? f.outcome + ": " : "") + f.error + (f.permanent ? " (permanent)" : "")),
          el("td", {}, el("code", {}, (f.tail || []).join("\n"))),
        ));
      }
      t.append(tb);
      failed.replaceChildren(t, d.total > d.failed.length ? el("p", { class: "muted" }, `…and ${fmt.n(d.total - d.failed.length)} more`) : "");
    }).catch((e) => failed.replaceChildren(el("div", { class: "warn" }, "Cannot read the failed elements: " + e.message)));
  };

  cancelBtn.addEventListener("click", async () => {
    const ok = await confirmModal(`Cancel execution ${id}? Its driver stops launching elements and ends the run at its next check; finished elements are kept, and \`maptask resume ${id}\` runs the rest later.`);
    if (!ok) return;
    cancelBtn.disabled = true;
    try {
      await fetchJSON(`/api/executions/${enc}/cancel`, { method: "POST", headers: { "X-Maptask-Console": "cancel" } });
    } catch (e) {
      showError("Cancel failed: " + e.message, "action");
      cancelBtn.disabled = false;
    }
  });

  changeBtn.addEventListener("click", async () => {
    const c = await changeForm(sum);
    if (!c) return;
    const ok = await confirmModal(`Change execution ${id}: ${describeChange(c)}?`, "Apply change", "Back");
    if (!ok) return;
    changeBtn.disabled = true;
    try {
      await fetchJSON(`/api/executions/${enc}/update`, { method: "POST", headers: { "X-Maptask-Console": "update", "Content-Type": "application/json" }, body: JSON.stringify(c) });
      showError("", "action");
    } catch (e) {
      showError("Change failed: " + e.message, "action");
    }
    changeBtn.disabled = false;
  });

  const onSummary = (s) => {
    sum = s;
    showError(s.error ? "Cannot read this execution: " + s.error : "");
    cmd.textContent = `${s.command}  ·  ${fmt.n(s.n)} inputs  ·  backend ${s.backend || "-"}  ·  created ${fmt.time(s.created)}  ·  ${s.live ? "running for" : "ran for"} ${fmt.dur(durationOf(s))}`;
    verdict.replaceChildren(verdictBadge(s));
    cancelBtn.hidden = !s.live;
    changeBtn.hidden = !s.live || s.cancelling;
    changes.replaceChildren(...(s.changes || []).map((c) => el("div", { class: "muted change", "data-seq": String(c.seq) },
      `change ${c.seq} at ${fmt.time(c.time)} by ${c.by}: ${describeChange(c)} — ` +
      (c.result == null ? "not applied yet" : c.result.applied ? `applied: ${c.result.concurrency ? "at most " + c.result.concurrency + " at once" : "unbounded"}, ${fmt.n(c.result.required)} required` : "refused: " + c.result.error))));
    if (s.cancelling) { cancelBtn.disabled = true; cancelBtn.textContent = "Cancel requested"; }
    const card = (k, v, key) => el("div", { class: "card", "data-k": key }, el("div", { class: "v" }, v), el("div", { class: "k" }, k));
    cards.replaceChildren(
      card("succeeded", fmt.n(s.succeeded), "succeeded"), card("cached", fmt.n(s.cached), "cached"), card("failed", fmt.n(s.failed), "failed"),
      card("running", s.live ? fmt.n(s.running) : "-", "running"),
      card("concurrency", s.concurrency < 0 ? "-" : s.concurrency === 0 ? "unbounded" : fmt.n(s.concurrency), "concurrency"), card("waiting", s.live ? fmt.n(s.waiting) : "-", "waiting"),
      card("not run", fmt.n(s.not_run), "not_run"),
      card("required", s.required_from ? fmt.n(s.required) : "-", "required"),
      card(s.live ? "verdict" : "outcome", s.live ? (s.cancelling ? "cancelling" : "running") : s.outcome, "outcome"),
    );
    barBox.replaceChildren(progressBar(s, true));
    warns.replaceChildren(...(s.warnings || []).map((w) => el("div", { class: "warn" }, w)));
    drawHistogram(hist, s.histogram);
    drawTimeline(tline, s.timeline);
    histNote.textContent = `${fmt.n(s.histogram.n)} elements, 0 to ${fmt.dur(s.histogram.max_ms)}`;
    stats.textContent = `read from the store by live updates: ${fmt.bytes(s.stats.JournalBytes)} of journal in ${fmt.n(s.stats.Listings)} listings, ${fmt.n(s.stats.SmallReads)} small reads; element pages ${fmt.bytes(s.stats.ElementBytes)}`;
    if (s.failed !== failedCount) { // at most one read of the failures a second
      failedCount = s.failed;
      if (!failedTimer) failedTimer = setTimeout(loadFailed, Math.max(0, 1000 - (Date.now() - failedAt)));
    }
  };
  const onGrid = (g) => {
    if (g.full !== undefined && g.full !== "") grid.full(b64bytes(g.full));
    else if (g.delta) grid.delta(b64bytes(g.delta));
    else if (g.n === 0) grid.full(new Uint8Array(0));
    if (!rendered) {
      rendered = true;
      window.maptaskGridRenderedMS = performance.now();
      canvas.setAttribute("data-rendered", String(g.n));
    }
    canvas.setAttribute("data-version", String(g.v));
  };
  const close = stream(`/api/executions/${enc}/events`, { summary: onSummary, grid: onGrid });
  // A stream that never opens (an unknown execution) says why through the JSON endpoint.
  fetchJSON(`/api/executions/${enc}`).catch((e) => showError(e.message));
  return () => { close(); if (failedTimer) clearTimeout(failedTimer); };
}

// ---- one element ------------------------------------------------------------

function elementPage(id, index) {
  const main = $("#main");
  const enc = encodeURIComponent(id);
  main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  let timer = null, stopped = false;
  const load = async () => {
    let d;
    try {
      d = await fetchJSON(`/api/executions/${enc}/elements/${encodeURIComponent(index)}`);
    } catch (e) {
      showError(e.message);
      main.replaceChildren(el("p", { class: "muted" }, "This element cannot be shown."));
      return;
    }
    if (stopped) return;
    showError("");
    const kv = el("div", { class: "kv", id: "element-info" },
      el("div", {}, "state"), el("div", { id: "element-state" }, el("span", { class: "badge " + d.state.replace(" ", "") }, d.state)),
      el("div", {}, "input"), el("div", {}, el("code", { id: "element-input" }, d.input_error ? "(cannot read it: " + d.input_error + ")" : d.input)),
      el("div", {}, "attempts"), el("div", {}, d.attempts),
      el("div", {}, "duration"), el("div", {}, fmt.dur(d.duration_ms)),
      d.error != null ? el("div", {}, "error") : null, d.error != null ? el("div", {}, d.error) : null,
      d.exit != null ? el("div", {}, "exit status") : null, d.exit != null ? el("div", {}, d.exit) : null,
    );
    const rec = el("table", { id: "attempts" }, el("thead", {}, el("tr", {}, ...["Attempt", "Status", "Recorded", "Duration", "Exit", "Outcome", "Ran on", "Error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...d.records.map((r) => el("tr", {},
        el("td", { class: "num" }, r.attempt || "-"),
        el("td", {}, r.status + (r.cached ? " (cached)" : "") + (r.permanent ? " (permanent)" : "")),
        el("td", {}, r.time ? new Date(r.time).toLocaleTimeString() : "-"),
        el("td", { class: "num" }, r.status === "running" ? "-" : fmt.dur(r.duration_ms)),
        el("td", { class: "num" }, r.exit == null ? "-" : r.exit),
        el("td", {}, r.outcome || ""),
        el("td", { class: "ran-on" }, r.ran_on || ""),
        el("td", {}, r.error || ""),
      ))));
    const logs = el("div", { id: "logs" });
    if (d.logs_error) logs.append(el("div", { class: "warn" }, "Cannot read the logs: " + d.logs_error));
    if (!d.logs.length) logs.append(el("p", { class: "muted" }, "No output kept for this element."));
    for (const l of d.logs) {
      const base = `/api/executions/${enc}/elements/${d.index}/logs/${l.attempt}/`;
      logs.append(el("h3", {}, "Attempt " + l.attempt));
      for (const [name, text, size, cls] of [["stderr", l.stderr, l.stderr_size, "stderr"], ["stdout", l.stdout, l.stdout_size, "stdout"]]) {
        if (!size) continue;
        const cut = size > text.length;
        logs.append(el("div", { class: "muted" }, `${name}, ${fmt.bytes(size)}${cut ? ", its end:" : ""} `, el("a", { href: base + name, target: "_blank" }, "whole")),
          el("pre", { class: cls + " log-" + name }, text));
      }
    }
    main.replaceChildren(
      el("div", { class: "head" }, el("h1", {}, `Element ${d.index} of ${fmt.n(d.n)}`), el("span", { class: "muted" }, d.command)),
      el("div", { class: "section" }, kv),
      el("div", { class: "section" }, el("h2", {}, "Attempts (journal records)"), attemptBars(d.records), rec, d.records_error ? el("div", { class: "warn" }, d.records_error) : null),
      el("div", { class: "section" }, el("h2", {}, "Logs, last attempt first, error output first"), logs),
    );
    main.setAttribute("data-element", String(d.index));
    if (d.state === "running" || d.state === "waiting") timer = setTimeout(load, 2000);
  };
  load();
  return () => { stopped = true; if (timer) clearTimeout(timer); main.removeAttribute("data-element"); };
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
