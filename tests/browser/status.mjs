// status.mjs: the status page in a real browser (Debian's chromium, driven
// by playwright-core) while t_status.py keeps the server busy.  Waits
// until every route it is told of shows a rate, p50/p99 and a plot of
// several points, checks the page's arithmetic on known numbers, makes a
// screenshot, says "ready" with what it saw, and then, once t_status.py
// has stopped the server (a line on stdin), waits for the page to say so.
// Prints JSON lines; the TAP test judges them.
//
//   node status.mjs URL SCREENSHOT ROUTE... < go
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [url, shot, ...routes] = process.argv.slice(2);
const origin = new URL(url).origin;
const out = { ok: false, requests: [], foreign: [], errors: [] };
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
let browser;
try {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  page.setDefaultTimeout(60000);
  page.on("request", (r) => {
    const u = new URL(r.url());
    out.requests.push(u.pathname);
    if (u.origin !== origin && u.protocol !== "data:") out.foreign.push(r.url());
  });
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
  await page.goto(url);
  out.title = await page.title();

  // Live numbers for every route: a rate, both percentiles, a plot.
  await page.waitForFunction((names) => names.every((n) => {
    const tr = document.querySelector(`#routes tr[data-name="${n}"]`);
    return tr && Number(tr.dataset.rate) > 0 && tr.dataset.p99 !== "" &&
      Number(tr.querySelector("canvas").dataset.points) >= 4;
  }), routes, { timeout: 90000, polling: 250 });
  out.routes = await page.evaluate((names) => Object.fromEntries(names.map((n) => {
    const tr = document.querySelector(`#routes tr[data-name="${n}"]`);
    const c = tr.querySelector("canvas"), pool = tr.querySelector("td.pool");
    return [n, { rate: Number(tr.dataset.rate), p50: Number(tr.dataset.p50),
                 p99: Number(tr.dataset.p99), points: Number(c.dataset.points),
                 p99Text: tr.querySelector("td.p99").textContent,
                 errors: tr.querySelector("td.errors").textContent,
                 errorsBad: tr.querySelector("td.errors").classList.contains("bad"),
                 ready: pool.dataset.ready, wanted: pool.dataset.wanted,
                 poolText: pool.textContent,
                 inked: (() => {   // pixels drawn in the plot's colours
                   const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                   let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++;
                   return n;
                 })() }];
  })), routes);
  out.order = await page.evaluate(() =>
    [...document.querySelectorAll("#routes tbody tr")].map((r) => r.dataset.name));
  await page.waitForFunction(() => [...document.querySelectorAll("#queues tbody tr")]
    .some((r) => r.dataset.length !== ""), null, { timeout: 30000 });
  out.queues = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll("#queues tbody tr")].map((r) => [r.dataset.name, {
      length: r.dataset.length, done: r.querySelector("td.done").textContent,
      dead: r.querySelector("td.dead").textContent }])));
  out.node = await page.evaluate(() => ({
    conns: document.getElementById("conns").textContent,
    live: document.getElementById("live-text").textContent,
  }));

  // The arithmetic, on numbers whose answers are known.
  out.math = await page.evaluate(() => {
    const s = window.dcgiStatus;
    const inf = Infinity;
    const parsed = s.parse('# HELP x y\nx_total{route="/a\\"b",code="200"} 3\nbad line\n' +
                           'y{le="+Inf"} 4\n');
    const snap = s.snapshot(s.parse(
      'dcgi_connections_open 2\n' +
      'dcgi_requests_total{route="/r",code="200"} 5\n' +
      'dcgi_requests_total{route="/r",code="502"} 2\n' +
      'dcgi_request_duration_seconds_bucket{route="/r",phase="total",le="0.1"} 1\n' +
      'dcgi_request_duration_seconds_bucket{route="/r",phase="create",le="0.1"} 7\n' +
      'dcgi_request_duration_seconds_bucket{route="/r",phase="total",le="+Inf"} 7\n'), 0);
    const r = snap.routes.get("/r");
    return {
      median: s.quantile(0.5, [[0.1, 0], [0.2, 10], [inf, 10]]),
      p99inf: s.quantile(0.99, [[0.1, 5], [0.5, 9], [inf, 10]]),
      first: s.quantile(0.5, [[0.1, 4], [inf, 4]]),
      none: s.quantile(0.5, [[0.1, 0], [inf, 0]]),
      gain: s.gain(10, 14), reset: s.gain(10, 3),
      bucketReset: s.bucketGain([[0.1, 5], [inf, 9]], [[0.1, 1], [inf, 2]]),
      bucketGain: s.bucketGain([[0.1, 5], [inf, 9]], [[0.1, 6], [inf, 12]]),
      label: parsed[0] && parsed[0].labels.route, nparsed: parsed.length,
      inf: parsed[1] && parsed[1].labels.le,
      req: r.req, err: r.err, buckets: r.buckets.map(([le, n]) => [String(le), n]),
      conns: snap.node.conns,
    };
  });
  // HOLD_MS: longer under load before the screenshot (docs/status.png).
  await page.waitForTimeout(Number(process.env.HOLD_MS) || 300);
  await page.screenshot({ path: shot, fullPage: true });
  out.ok = true;
  console.log(JSON.stringify(out));

  // The server goes away: the page says so.
  await lines.next();
  await page.waitForFunction(() => document.getElementById("live-text").textContent === "offline" &&
    !document.getElementById("status").hidden, null, { timeout: 30000 });
  console.log(JSON.stringify({ offline: await page.locator("#status").textContent() }));
} catch (e) {
  out.error = String(e);
  console.log(JSON.stringify(out));
} finally {
  if (browser) await browser.close();
}
process.exit(0);
