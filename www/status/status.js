// The status page: reads dcgid's Metrics path (the Prometheus text format)
// every PERIOD ms, keeps what it read for the last minutes, and shows per
// route the request rate, p50/p99 latency (now, and as a plot) and the
// prestart pool's fill, per queue its length and what this node does with
// it.  Plain JS, nothing from other hosts; the history lives in the page.
//
// The query string may set: metrics (the path, default /metrics), period
// (ms between reads, default 2000), window (s a rate or a percentile is
// taken over, default 10) and span (minutes the plot shows, default 5).
"use strict";

const args = new URLSearchParams(location.search);
const METRICS = /^\/[^\/]/.test(args.get("metrics") || "") ? args.get("metrics") : "/metrics";
const PERIOD = clamp(Number(args.get("period")) || 2000, 250, 60000);
const WINDOW = clamp(Number(args.get("window")) || 10, 1, 600) * 1000;
const SPAN = clamp(Number(args.get("span")) || 5, 1, 60) * 60000;
const PATIENCE = Math.max(5000, PERIOD);   // ms a read may take

const $ = (id) => document.getElementById(id);

function clamp(x, lo, hi) {
  return Math.min(hi, Math.max(lo, x));
}

// The text format, version 0.0.4: [{name, labels, value}].  Comments,
// blank lines and lines it cannot read are skipped.
function parse(text) {
  const out = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const l of text.split("\n")) {
    if (l === "" || l[0] === "#") continue;
    const m = line.exec(l);
    if (m === null) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(label))
      labels[k] = v.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    const value = Number(m[3] === "+Inf" ? Infinity : m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

// A quantile of a histogram, as Prometheus's histogram_quantile() has it:
// buckets are [upper bound, cumulative count] sorted by bound, +Inf last;
// linear within the bucket the rank falls in; in the +Inf bucket, the
// highest finite bound.  null with no observations.
function quantile(q, buckets) {
  if (buckets.length === 0) return null;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let lo = 0, below = 0;
  for (const [le, cum] of buckets) {
    if (cum >= rank) {
      if (le === Infinity) return lo;
      if (cum === below) return le;
      return lo + ((le - lo) * (rank - below)) / (cum - below);
    }
    lo = le;
    below = cum;
  }
  return lo;
}

// One read, boiled down: per route and per queue what the page shows.
function snapshot(samples, t) {
  const s = { t, node: {}, routes: new Map(), queues: new Map() };
  const route = (name) => {
    if (!s.routes.has(name))
      s.routes.set(name, { req: 0, err: 0, buckets: new Map(), running: 0,
                           started: 0, ready: null, wanted: null });
    return s.routes.get(name);
  };
  const queue = (name) => {
    if (!s.queues.has(name))
      s.queues.set(name, { length: null, held: 0, running: 0, done: 0, retried: 0, dead: 0 });
    return s.queues.get(name);
  };
  const node = { dcgi_connections_open: "conns", dcgi_engine_errors_total: "engineErrors",
                 dcgi_redis_errors_total: "redisErrors", dcgi_redis_outages_total: "outages" };
  const perQueue = { dcgi_queue_length: "length", dcgi_queue_items_held: "held",
                     dcgi_queue_items_running: "running", dcgi_queue_items_done_total: "done",
                     dcgi_queue_items_retried_total: "retried", dcgi_queue_items_dead_total: "dead" };
  for (const { name, labels, value } of samples) {
    if (name in node) {
      s.node[node[name]] = value;
    } else if (name in perQueue && labels.queue !== undefined) {
      queue(labels.queue)[perQueue[name]] = value;
    } else if (labels.route === undefined) {
      continue;
    } else if (name === "dcgi_requests_total") {
      const r = route(labels.route);
      r.req += value;
      if (/^5/.test(labels.code || "")) r.err += value;
    } else if (name === "dcgi_request_duration_seconds_bucket" && labels.phase === "total") {
      route(labels.route).buckets.set(labels.le === "+Inf" ? Infinity : Number(labels.le), value);
    } else if (name === "dcgi_containers_running") {
      route(labels.route).running = value;
    } else if (name === "dcgi_containers_started_total") {
      route(labels.route).started = value;
    } else if (name === "dcgi_prestart_ready") {
      route(labels.route).ready = value;
    } else if (name === "dcgi_prestart_wanted") {
      route(labels.route).wanted = value;
    }
  }
  for (const r of s.routes.values())
    r.buckets = [...r.buckets].sort((a, b) => a[0] - b[0]);
  return s;
}

// What a counter gained from a to b: a counter that went down was reset
// (a reload's new server process), and counts from zero.
function gain(a, b) {
  return b >= a ? b - a : b;
}

// The buckets of the observations between two reads.
function bucketGain(a, b) {
  const old = new Map(a);
  const reset = b.some(([le, n]) => n < (old.get(le) || 0));
  return b.map(([le, n]) => [le, reset ? n : n - (old.get(le) || 0)]);
}

// The read to measure from at time t: the newest at least WINDOW older,
// else the oldest there is (a page open for less than WINDOW).
function base(history, i) {
  const t = history[i].t - WINDOW;
  let j = 0;
  for (let k = i - 1; k >= 0; k--) {
    if (history[k].t <= t) { j = k; break; }
  }
  return j < i ? history[j] : null;
}

// Per route at read i: rate, 5xx rate, p50 and p99 over the window.
function measure(history, i, name) {
  const b = history[i], a = base(history, i);
  const rb = b.routes.get(name);
  if (!a || !rb) return null;
  const ra = a.routes.get(name) || { req: 0, err: 0, buckets: [] };
  const secs = (b.t - a.t) / 1000;
  const buckets = bucketGain(ra.buckets, rb.buckets);
  return {
    rate: gain(ra.req, rb.req) / secs,
    errors: gain(ra.err, rb.err) / secs,
    p50: quantile(0.5, buckets),
    p99: quantile(0.99, buckets),
  };
}

function fmtSeconds(x) {
  if (x === null || x === undefined) return "–";
  if (x < 1) return Math.round(x * 1000) + " ms";
  return x.toFixed(x < 10 ? 2 : 1) + " s";
}

function fmtRate(x) {
  if (x === null || x === undefined) return "–";
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

const history = [];

// The latency plot of one route: p50 and p99 of each read's window over
// the last SPAN, on a scale from 0 to the highest p99 shown.
function plot(canvas, name) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 260, h = canvas.clientHeight || 48;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const now = history[history.length - 1].t;
  const pts = [];
  for (let i = 0; i < history.length; i++) {
    if (history[i].t < now - SPAN) continue;
    const m = measure(history, i, name);
    if (m && m.p99 !== null) pts.push({ t: history[i].t, p50: m.p50, p99: m.p99 });
  }
  const top = Math.max(0.001, ...pts.map((p) => p.p99)) * 1.1;
  const css = getComputedStyle(document.documentElement);
  // A page younger than SPAN spreads what it has over the width.
  const from = Math.max(now - SPAN, history[0].t), width = Math.max(now - from, PERIOD);
  const x = (t) => ((t - from) / width) * (w - 1);
  const y = (v) => h - 1 - (v / top) * (h - 14);
  g.strokeStyle = css.getPropertyValue("--line");
  g.beginPath(); g.moveTo(0, h - 0.5); g.lineTo(w, h - 0.5); g.stroke();
  for (const [key, color] of [["p99", "--p99"], ["p50", "--p50"]]) {
    g.strokeStyle = css.getPropertyValue(color);
    g.fillStyle = g.strokeStyle;
    g.lineWidth = 1.5;
    g.beginPath();
    let prev = null;
    for (const p of pts) {
      // A gap of more than two reads (no requests, or no reads) breaks the line.
      if (prev === null || p.t - prev.t > 2.5 * PERIOD) g.moveTo(x(p.t), y(p[key]));
      else g.lineTo(x(p.t), y(p[key]));
      prev = p;
    }
    g.stroke();
    if (pts.length === 1) g.fillRect(x(pts[0].t) - 1.5, y(pts[0][key]) - 1.5, 3, 3);
  }
  g.fillStyle = css.getPropertyValue("--muted");
  g.font = "10px system-ui, sans-serif";
  g.fillText(fmtSeconds(top / 1.1), 2, 10);
  canvas.dataset.points = String(pts.length);
  canvas.setAttribute("aria-label", name + ": " + pts.length + " points, up to " +
                      fmtSeconds(top / 1.1));
}

// A table row per name, kept in order, made once and then updated.
function row(tbody, name, cells) {
  let tr = [...tbody.rows].find((r) => r.dataset.name === name);
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.name = name;
    const th = document.createElement("td");
    th.className = "name";
    th.textContent = name;
    tr.appendChild(th);
    for (const c of cells) {
      const td = document.createElement("td");
      td.className = c;
      if (c === "plot") td.appendChild(document.createElement("canvas"));
      if (c === "pool") td.innerHTML = '<div class="track"><div class="fill"></div></div><span class="txt"></span>';
      tr.appendChild(td);
    }
    const after = [...tbody.rows].find((r) => order(r.dataset.name, name) > 0);
    tbody.insertBefore(tr, after || null);
  }
  return tr;
}

// Routes by name, "static" (what no route answered) last.
function order(a, b) {
  if ((a === "static") !== (b === "static")) return a === "static" ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function set(tr, cls, text, bad) {
  const td = tr.querySelector("td." + cls.split(" ")[0]);
  td.textContent = text;
  td.classList.toggle("bad", !!bad);
}

function show() {
  const i = history.length - 1, now = history[i], prev = base(history, i);
  const n = now.node;
  $("conns").textContent = n.conns ?? "–";
  let running = 0, started = 0, startedBefore = 0;
  for (const r of now.routes.values()) { running += r.running; started += r.started; }
  if (prev) for (const r of prev.routes.values()) startedBefore += r.started;
  $("running").textContent = running;
  $("started").textContent = prev ? fmtRate(gain(startedBefore, started) / ((now.t - prev.t) / 1000)) : "–";
  for (const [id, v] of [["engine-errors", n.engineErrors], ["redis-errors", n.redisErrors]]) {
    $(id).textContent = v ?? "–";
    $(id).parentNode.classList.toggle("bad", v > 0);
  }

  const routes = $("routes").tBodies[0];
  for (const name of now.routes.keys()) {
    const r = now.routes.get(name), m = measure(history, i, name);
    const tr = row(routes, name, ["rate n", "errors n", "p50 n", "p99 n", "plot", "pool"]);
    set(tr, "rate", m ? fmtRate(m.rate) : "–");
    set(tr, "errors", m ? fmtRate(m.errors) : "–", m && m.errors > 0);
    set(tr, "p50", m ? fmtSeconds(m.p50) : "–");
    set(tr, "p99", m ? fmtSeconds(m.p99) : "–");
    tr.dataset.rate = m ? m.rate : "";
    tr.dataset.p50 = m && m.p50 !== null ? m.p50 : "";
    tr.dataset.p99 = m && m.p99 !== null ? m.p99 : "";
    plot(tr.querySelector("canvas"), name);
    const pool = tr.querySelector("td.pool");
    if (r.wanted === null) {
      pool.querySelector(".track").hidden = true;
      pool.querySelector(".txt").textContent = "no Prestart";
    } else {
      pool.querySelector(".track").hidden = false;
      const fill = r.wanted > 0 ? Math.min(1, r.ready / r.wanted) : 0;
      pool.querySelector(".fill").style.width = Math.round(fill * 100) + "%";
      pool.querySelector(".txt").textContent = r.ready + " of " + r.wanted + " ready";
    }
    pool.dataset.ready = r.ready ?? "";
    pool.dataset.wanted = r.wanted ?? "";
  }
  $("routes-empty").hidden = now.routes.size > 0;

  const queues = $("queues").tBodies[0];
  for (const [name, q] of now.queues) {
    const tr = row(queues, name, ["length n", "held n", "running n", "done n", "retried n", "dead n"]);
    const pq = prev && prev.queues.get(name);
    set(tr, "length", q.length ?? "–");
    set(tr, "held", q.held);
    set(tr, "running", q.running);
    set(tr, "done", pq ? fmtRate(gain(pq.done, q.done) / ((now.t - prev.t) / 1000)) : "–");
    set(tr, "retried", q.retried);
    set(tr, "dead", q.dead, q.dead > 0);
    tr.dataset.length = q.length ?? "";
  }
  $("queues-empty").hidden = now.queues.size > 0;
}

function connected(ok, why) {
  $("live").classList.toggle("on", ok);
  $("live").classList.toggle("off", !ok);
  $("live-text").textContent = ok ? "live" : "offline";
  $("status").hidden = ok;
  $("status").textContent = ok ? "" : "Cannot read " + METRICS + ": " + why + "; retrying…";
}

async function poll() {
  const started = Date.now();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), PATIENCE);
  try {
    const res = await fetch(METRICS, { cache: "no-store", signal: abort.signal });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const samples = parse(await res.text());
    if (!samples.some((s) => s.name === "dcgi_connections_open"))
      throw new Error("not dcgi's metrics");
    history.push(snapshot(samples, Date.now()));
    while (history.length > 2 && history[1].t < Date.now() - SPAN - WINDOW) history.shift();
    show();
    connected(true);
  } catch (e) {
    connected(false, e.name === "AbortError" ? "no answer" : e.message);
  } finally {
    clearTimeout(timer);
  }
  setTimeout(poll, Math.max(0, PERIOD - (Date.now() - started)));
}

$("source").textContent = METRICS;
$("period").textContent = PERIOD / 1000;
$("window").textContent = WINDOW / 1000;
for (const e of document.querySelectorAll(".span-min")) e.textContent = SPAN / 60000;

// For tests: the page's arithmetic, to be checked on known numbers.
window.dcgiStatus = { parse, quantile, snapshot, bucketGain, gain, history };

poll();
