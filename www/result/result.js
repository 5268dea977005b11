// The result page: polls /result/votes every second and shows both
// options, their percentages (the split bar) and the total, live.
// Plain JS, nothing from other hosts.  The answer looks like
//   {"options": {"a": "Cats", "b": "Dogs"}, "counts": {"a": 3, "b": 1}, "total": 4}
"use strict";

const URL_VOTES = "/result/votes";
const PERIOD = 1000;      // ms from the start of one poll to the next
const PATIENCE = 5000;    // ms a poll may take before it counts as failed

const $ = (id) => document.getElementById(id);

// Percentages to one decimal that add up to 100 (0 and 0 with no votes).
function shares(a, b) {
  const total = a + b;
  if (total <= 0) return [0, 0];
  const pa = Math.round((1000 * a) / total) / 10;
  return [pa, Math.round((100 - pa) * 10) / 10];
}

function votes(n) {
  return n + (n === 1 ? " vote" : " votes");
}

function show(r) {
  const a = Number(r.counts.a) || 0, b = Number(r.counts.b) || 0;
  const total = Number(r.total) || a + b;
  const [pa, pb] = shares(a, b);
  $("name-a").textContent = r.options.a;
  $("name-b").textContent = r.options.b;
  $("title").textContent = r.options.a + " vs " + r.options.b;
  document.title = r.options.a + " vs " + r.options.b + ": results";
  $("pct-a").textContent = pa + "%";
  $("pct-b").textContent = pb + "%";
  $("count-a").textContent = votes(a);
  $("count-b").textContent = votes(b);
  $("fill-a").style.width = (total > 0 ? pa : 50) + "%";
  $("fill-b").style.width = (total > 0 ? pb : 50) + "%";
  $("bar").classList.toggle("empty", total === 0);
  $("bar").setAttribute("aria-label", r.options.a + " " + pa + "%, " + r.options.b + " " + pb + "%");
  $("total").textContent = total === 0 ? "No votes yet" : votes(total);
}

function connected(ok) {
  $("status").hidden = ok;
  $("live").classList.toggle("off", !ok);
  $("live-text").textContent = ok ? "live" : "offline";
}

async function poll() {
  const started = Date.now();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), PATIENCE);
  try {
    const res = await fetch(URL_VOTES, { cache: "no-store", signal: abort.signal });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const r = await res.json();
    if (!r || !r.counts || !r.options) throw new Error("unexpected answer");
    show(r);
    connected(true);
  } catch (e) {
    connected(false);
  } finally {
    clearTimeout(timer);
  }
  // Never two polls at once: the next starts a second after this one did,
  // or at once if this one took longer.
  setTimeout(poll, Math.max(0, PERIOD - (Date.now() - started)));
}

poll();
