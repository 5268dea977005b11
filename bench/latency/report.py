#!/usr/bin/env python3
"""Pool the result files of bench/latency.sh and print the summary.

    report.py DIR

DIR holds TARGET-MODE-REP.json files written by client.py -o (TARGET one of
dcgid, apache, raw; MODE seq or conc).  Samples of the same target and mode
are pooled over the repetitions, then p50 and p99 are computed (nearest
rank).  Prints a Markdown table, the p50 of every block (to show the
drift), dcgid's Server-Timing phases, the raw phases, the ratios with a
bootstrap 95% interval (resampling each target's samples, fixed seed), and
whether the project's goals are met (judged on the point estimates).
"""
import glob
import json
import os
import random
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import pct, summarize  # noqa: E402

TARGETS = [("dcgid", "a. dcgid `<Route /fn>`"),
           ("apache", "b. Apache + CGI `docker run -i --rm`"),
           ("raw", "c. raw API floor (create→attach→start→EOF)")]
MODES = [("seq", "sequential"), ("conc", "8 concurrent")]
GOAL_DELTA_MS = 5.0
GOAL_RATIO = 0.9


def ok_ms(samples):
    return [x["t"] * 1000 for x in samples if x["err"] is None]


def bootstrap(a, b, fn, n=2000, seed=1):
    """95% interval of fn(p50 of a resample of a, p50 of one of b)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        ra = [a[rnd.randrange(len(a))] for _ in a]
        rb = [b[rnd.randrange(len(b))] for _ in b]
        out.append(fn(pct(ra, 50), pct(rb, 50)))
    out.sort()
    return out[int(0.025 * n)], out[int(0.975 * n) - 1]


def load(d):
    pooled, conc, blocks = {}, {}, {}
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        name = os.path.basename(f)[:-5]
        try:
            target, mode, _rep = name.split("-")
        except ValueError:
            continue
        with open(f) as fh:
            data = json.load(fh)
        pooled.setdefault((target, mode), []).extend(data["samples"])
        s = data["summary"]
        conc[(target, mode)] = s["concurrency"]
        pooled.setdefault(("_wall", target, mode), []).append(s["wall_s"])
        blocks.setdefault((target, mode), []).append((int(_rep), s["p50_ms"]))
    return pooled, conc, blocks


def main():
    d = sys.argv[1]
    pooled, conc, blocks = load(d)
    S = {}
    for (t, _), (m, _) in ((x, y) for x in TARGETS for y in MODES):
        if (t, m) in pooled:
            S[(t, m)] = summarize(pooled[(t, m)], sum(pooled[("_wall", t, m)]))

    def cell(t, m, k):
        s = S.get((t, m))
        return "%.1f" % s[k] if s else "–"

    print("| | sequential p50 | sequential p99 | 8 concurrent p50 | 8 concurrent p99 | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for t, label in TARGETS:
        errs = sum(S[(t, m)]["errors"] for m, _ in MODES if (t, m) in S)
        n = sum(S[(t, m)]["n"] for m, _ in MODES if (t, m) in S)
        print("| %s | %s | %s | %s | %s | %d / %d |" % (
            label, cell(t, "seq", "p50_ms"), cell(t, "seq", "p99_ms"),
            cell(t, "conc", "p50_ms"), cell(t, "conc", "p99_ms"), errs, n))
    # The floor with the DELETE on the clock too.
    row = []
    for m, _ in MODES:
        s = S.get(("raw", m))
        row += ["%.1f" % s["phases_p50_ms"].get("total", float("nan")),
                "%.1f" % s["phases_p99_ms"].get("total", float("nan"))] if s else ["–", "–"]
    print("| (c. including DELETE) | %s | %s | %s | %s | |" % tuple(row))
    print("\nAll times in ms, per request, measured by the client (bench/latency/client.py).")
    print("Throughput (requests/s over the measured run): " + "; ".join(
        "%s %s %.2f" % (t, m, S[(t, m)]["rps"]) for t, _ in TARGETS
        for m, _ in MODES if (t, m) in S))

    print("\np50 of each block (ms), in the order of the rounds:\n")
    for m, ml in MODES:
        for t, _ in TARGETS:
            if (t, m) in blocks:
                print("- %s, %s: %s" % (ml, t, ", ".join(
                    "%.0f" % p for _, p in sorted(blocks[(t, m)]))))

    print("\nWhere the time goes, p50 (p99) in ms:\n")
    print("| | create | attach | start | first byte after start | response/EOF | delete |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t, tl in (("dcgid", "dcgid (Server-Timing)"), ("raw", "raw floor")):
        for m, ml in MODES:
            s = S.get((t, m))
            if not s:
                continue
            p50, p99 = s["phases_p50_ms"], s["phases_p99_ms"]

            def f(k):
                return "%.1f (%.1f)" % (p50[k], p99[k]) if k in p50 else "–"
            eof = f("eof") if t == "raw" else "%.1f (%.1f)" % (s["p50_ms"], s["p99_ms"])
            print("| %s, %s | %s | %s | %s | %s | %s | %s |" % (
                tl, ml, f("create"), f("attach"), f("start"), f("fb"), eof,
                f("delete") if t == "raw" else "after the response"))
        if t == "dcgid":
            q = [S[("dcgid", m)]["phases_p50_ms"].get("queue") for m, _ in MODES
                 if ("dcgid", m) in S]
            if any(q):
                print("| (dcgid queue p50: %s) | | | | | | |" % ", ".join(
                    "%.1f" % x for x in q if x is not None))

    print("\nGoals (p50):\n")
    ok_all = True
    for m, ml in MODES:
        a, b, c = (S.get((t, m)) for t in ("dcgid", "apache", "raw"))
        if not (a and b and c):
            continue
        delta = a["p50_ms"] - c["p50_ms"]
        ratio = a["p50_ms"] / b["p50_ms"]
        da, db, dc = (ok_ms(pooled[(t, m)]) for t in ("dcgid", "apache", "raw"))
        dlo, dhi = bootstrap(da, dc, lambda x, y: x - y)
        rlo, rhi = bootstrap(da, db, lambda x, y: x / y)
        g1, g2 = delta <= GOAL_DELTA_MS, ratio <= GOAL_RATIO
        ok_all &= g1 and g2
        print("- %s: dcgid − raw floor = %+.1f ms [95%%: %+.1f … %+.1f] "
              "(goal ≤ %.0f ms: %s); dcgid / Apache = %.2f× [95%%: %.2f … %.2f] "
              "(goal ≤ %.1f×: %s)" % (
                  ml, delta, dlo, dhi, GOAL_DELTA_MS, "met" if g1 else "NOT met",
                  ratio, rlo, rhi, GOAL_RATIO, "met" if g2 else "NOT met"))
    return 0 if ok_all else 2


if __name__ == "__main__":
    sys.exit(main())
