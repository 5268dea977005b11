// The result page: polls /result/votes every second and shows the
// percentages and the total.  Plain JS, nothing from other hosts.
"use strict";

const $ = (id) => document.getElementById(id);

function pct(n, total) {
  return total > 0 ? Math.round((1000 * n) / total) / 10 : 0;
}

function show(r) {
  const a = r.counts.a, b = r.counts.b, total = r.total;
  $("name-a").textContent = r.options.a;
  $("name-b").textContent = r.options.b;
  const pa = pct(a, total), pb = total > 0 ? Math.round((100 - pa) * 10) / 10 : 0;
  $("pct-a").textContent = pa + "%";
  $("pct-b").textContent = pb + "%";
  $("fill-a").style.width = (total > 0 ? pa : 50) + "%";
  $("fill-b").style.width = (total > 0 ? pb : 50) + "%";
  $("total").textContent = total === 0 ? "No votes yet" :
    total + (total === 1 ? " vote" : " votes");
}

async function poll() {
  try {
    const res = await fetch("/result/votes", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    show(await res.json());
    $("status").hidden = true;
  } catch (e) {
    $("status").hidden = false;
  }
  setTimeout(poll, 1000);
}

poll();
