#!/usr/bin/env python3
"""Pool the result files of bench/prestart.sh and print the summary.

    prestart_report.py DIR

DIR holds TARGET-MODE-GAP-ROUND.json files written by client.py -o (TARGET
one of cold, pre, warm; MODE seq or conc; GAP the unmeasured pause after
each request in ms, 0 for back to back).  Samples of the same target, mode
and gap are pooled over the rounds, then p50 and p99 are computed (nearest
rank).  Prints Markdown tables: the latencies with pre's prestart hit rate
(responses whose Server-Timing says prestart;desc=hit, of all pre
requests), the goals (pre p50 / cold p50 <= 0.15; dcgid's overhead over the
floor of writing to a waiting container < 2 ms, judged on the first byte:
the client's time to pre's response head on hits against the floor's time
from its write to the first byte of output; the whole-response difference
is printed beside it) with a
bootstrap 95% interval (resampling each target's samples, fixed seed),
pre split into hits and misses, where the time goes, and the p50 and hits
of every block (to show the drift).  Exit 0 when every goal is met on the
point estimates, 2 when not.
"""
import glob
import json
import os
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import pct, summarize  # noqa: E402
from report import bootstrap, ok_ms  # noqa: E402

TARGETS = [("cold", "a. dcgid cold `<Route /cold>`"),
           ("pre", "b. dcgid `Prestart 4` `<Route /pre>`"),
           ("warm", "c. floor: write to a waiting container")]
GOAL_RATIO = 0.15
GOAL_DELTA_MS = 2.0


def is_hit(s):
    return "prestart;desc=hit" in s.get("server_timing", "")


def is_miss(s):
    return "prestart;desc=miss" in s.get("server_timing", "")


def load(d):
    pooled, conc, blocks, walls = {}, {}, {}, {}
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        name = os.path.basename(f)[:-5]
        try:
            target, mode, gap, rnd = name.split("-")
            key = (target, mode, int(gap))
            rnd = int(rnd)
        except ValueError:
            continue
        with open(f) as fh:
            data = json.load(fh)
        pooled.setdefault(key, []).extend(data["samples"])
        s = data["summary"]
        conc[(mode, int(gap))] = s["concurrency"]
        walls.setdefault(key, []).append(s["wall_s"])
        blocks.setdefault(key, []).append(
            (rnd, s["p50_ms"], sum(is_hit(x) for x in data["samples"]),
             len(data["samples"])))
    return pooled, conc, blocks, walls


def main():
    d = sys.argv[1]
    pooled, conc, blocks, walls = load(d)
    if not pooled:
        print("no results in %s" % d)
        return 3
    S = {k: summarize(v, sum(walls[k])) for k, v in pooled.items()}
    # Phases in the order the script runs them.
    phases = sorted({(m, g) for (_, m, g) in pooled},
                    key=lambda x: (x[1] != 0, x[0] != "seq", x[1]))

    def plabel(m, g):
        who = "sequential" if m == "seq" else "%d concurrent" % conc[(m, g)]
        return "%s, %s" % (who, "back to back" if g == 0 else
                            "%d ms pauses" % g)

    def f(x):
        return "%.1f" % x if x == x else "–"     # NaN: no sample

    def hits(m, g):
        s = pooled.get(("pre", m, g))
        if not s:
            return None
        return sum(is_hit(x) for x in s), len(s)

    print("| | cold p50 | cold p99 | prestart p50 | prestart p99 | prestart hits "
          "| warm p50 | warm p99 | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, g in phases:
        row = []
        errs = n = 0
        for t, _ in TARGETS:
            s = S.get((t, m, g))
            row += [f(s["p50_ms"]), f(s["p99_ms"])] if s else ["–", "–"]
            if s:
                errs += s["errors"]
                n += s["n"]
            if t == "pre":
                h = hits(m, g)
                row.append("%d / %d (%.0f%%)" % (h[0], h[1], 100.0 * h[0] / h[1])
                           if h else "–")
        print("| %s | %s | %d / %d |" % (plabel(m, g), " | ".join(row), errs, n))
    print("\nAll times in ms, per request, measured by the client "
          "(bench/latency/client.py): cold and prestart from sending the GET to "
          "the end of the response; warm from the first byte written to the "
          "attach stream to its EOF (create, attach, start and delete off the "
          "clock).")
    print("Throughput (requests/s over the measured blocks, pauses included): " +
          "; ".join("%s %s %s" % (plabel(m, g), t, "%.2f" % S[(t, m, g)]["rps"])
                    for m, g in phases for t, _ in TARGETS if (t, m, g) in S))

    print("\nGoals (p50; in brackets a bootstrap 95% interval over the pooled "
          "samples, which ignores the drift between blocks):\n")
    print("| | prestart / cold (goal ≤ %.2f) | first byte: prestart − warm "
          "(goal < %.0f ms) | whole response: prestart − warm | hit rate |"
          % (GOAL_RATIO, GOAL_DELTA_MS))
    print("|---|---|---|---|---:|")
    ok_all = True
    for m, g in phases:
        a, b, c = (S.get((t, m, g)) for t in ("cold", "pre", "warm"))
        h = hits(m, g)
        cells = []
        if a and b and a["ok"] and b["ok"]:
            ratio = b["p50_ms"] / a["p50_ms"]
            lo, hi = bootstrap(ok_ms(pooled[("pre", m, g)]),
                               ok_ms(pooled[("cold", m, g)]), lambda x, y: x / y)
            met = ratio <= GOAL_RATIO
            ok_all &= met
            cells.append("%.2f× [%.2f … %.2f]: %s" % (
                ratio, lo, hi, "met" if met else "**not met**"))
        else:
            cells.append("–")
        # dcgid's overhead: time to the first byte of the response (the
        # client's ttfb, hits only) against the floor's first byte after
        # its write (what "answers in about 1 ms" measured).
        pre_fb = [x["ttfb"] * 1000 for x in pooled.get(("pre", m, g), [])
                  if x["err"] is None and is_hit(x) and "ttfb" in x]
        warm_fb = [x["fb"] * 1000 for x in pooled.get(("warm", m, g), [])
                   if x["err"] is None and "fb" in x]
        if pre_fb and warm_fb:
            delta = pct(pre_fb, 50) - pct(warm_fb, 50)
            lo, hi = bootstrap(pre_fb, warm_fb, lambda x, y: x - y)
            met = delta < GOAL_DELTA_MS
            ok_all &= met
            cells.append("%.1f − %.1f = %+.1f ms [%+.1f … %+.1f]: %s" % (
                pct(pre_fb, 50), pct(warm_fb, 50), delta, lo, hi,
                "met" if met else "**not met**"))
        else:
            cells.append("–")
        if b and c and b["ok"] and c["ok"]:
            delta = b["p50_ms"] - c["p50_ms"]
            lo, hi = bootstrap(ok_ms(pooled[("pre", m, g)]),
                               ok_ms(pooled[("warm", m, g)]), lambda x, y: x - y)
            cells.append("%+.1f ms [%+.1f … %+.1f]" % (delta, lo, hi))
        else:
            cells.append("–")
        cells.append("%.0f%%" % (100.0 * h[0] / h[1]) if h else "–")
        print("| %s | %s |" % (plabel(m, g), " | ".join(cells)))

    print("\nPrestart requests split by what they got, p50 (p99) in ms; the "
          "difference to warm on hits only:\n")
    print("| | hits | hit p50 (p99) | hit − warm p50 | misses "
          "| miss p50 (p99) | neither (errors) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m, g in phases:
        s = pooled.get(("pre", m, g))
        if not s:
            continue
        hv = [x["t"] * 1000 for x in s if x["err"] is None and is_hit(x)]
        mv = [x["t"] * 1000 for x in s if x["err"] is None and is_miss(x)]
        nn = sum(1 for x in s if not (x["err"] is None and (is_hit(x) or is_miss(x))))
        w = S.get(("warm", m, g))
        dh = ("%+.1f" % (pct(hv, 50) - w["p50_ms"])) if hv and w and w["ok"] else "–"
        print("| %s | %d | %s (%s) | %s | %d | %s (%s) | %d |" % (
            plabel(m, g), len(hv), f(pct(hv, 50)), f(pct(hv, 99)), dh,
            len(mv), f(pct(mv, 50)), f(pct(mv, 99)), nn))

    print("\nWhere the time goes, p50 (p99) in ms: dcgid's Server-Timing "
          "(on a hit create/attach/start are 0 and fb counts from handing the "
          "request to the waiting container), the warm client's phases:\n")
    print("| | create | start | first byte | response/EOF | warm: setup (untimed) "
          "| warm: delete (untimed) |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def ph(samples, key, sel):
        v = []
        for x in samples:
            if x["err"] is not None or not sel(x):
                continue
            if "server_timing" in x:
                for part in x["server_timing"].split(","):
                    name, _, rest = part.strip().partition(";")
                    if name == key and rest.startswith("dur="):
                        v.append(float(rest[4:]))
            elif key in x:
                v.append(x[key] * 1000)
        return "%.1f (%.1f)" % (pct(v, 50), pct(v, 99)) if v else "–"

    for m, g in phases:
        for t, sel, tl in (("cold", lambda x: True, "cold"),
                           ("pre", is_hit, "prestart hits"),
                           ("pre", is_miss, "prestart misses"),
                           ("warm", lambda x: True, "warm")):
            s = pooled.get((t, m, g))
            if not s or not any(sel(x) for x in s):
                continue
            resp = [x["t"] * 1000 for x in s if x["err"] is None and sel(x)]
            print("| %s, %s | %s | %s | %s | %s | %s | %s |" % (
                tl, plabel(m, g),
                ph(s, "create", sel) if t != "warm" else "–",
                ph(s, "start", sel) if t != "warm" else "–",
                ph(s, "fb", sel), "%s (%s)" % (f(pct(resp, 50)), f(pct(resp, 99))),
                ph(s, "setup", sel) if t == "warm" else "",
                ph(s, "delete", sel) if t == "warm" else ""))

    print("\np50 of each block (ms), in the order of the rounds; for prestart "
          "also hits/requests:\n")
    for m, g in phases:
        for t, _ in TARGETS:
            b = blocks.get((t, m, g))
            if not b:
                continue
            b.sort()
            if t == "pre":
                txt = ", ".join("%.0f (%d/%d)" % (p, h, n) for _, p, h, n in b)
            else:
                txt = ", ".join("%.0f" % p for _, p, _, _ in b)
            print("- %s, %s: %s" % (plabel(m, g), t, txt))

    errs = [(k, e) for k, s in sorted(S.items()) for e in s["first_errors"]]
    if errs:
        print("\nErrors (first of each):\n")
        for (t, m, g), e in errs[:20]:
            print("- %s %s: %s" % (t, plabel(m, g), e))
    return 0 if ok_all else 2


if __name__ == "__main__":
    sys.exit(main())
