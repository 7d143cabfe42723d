#!/usr/bin/env python3
"""The numbers README.md's figure captions quote, read from the data each
figure plots (figures/NAME.csv, written by `inferfair figures`: the means
over the seeds that the figure draws). Run it after regenerating the
figures and update the captions from its output:

    python3 scripts/figure-numbers.py

Standard library only.
"""

import csv
import os
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load(name):
    """{panel title: {series: [(x, y)]}} of figures/NAME.csv, x as text."""
    out = defaultdict(lambda: defaultdict(list))
    with open(os.path.join(ROOT, "figures", name + ".csv"), newline="") as f:
        for r in csv.DictReader(f):
            out[r["title"]][r["series"]].append((r["x"], float(r["y"])))
    return out


def at(series, x):
    for px, y in series:
        if float(px) == float(x):
            return y
    raise KeyError(x)


def panel(fig, prefix):
    for title, s in fig.items():
        if title.startswith(prefix):
            return s
    raise KeyError(prefix)


def first_reach(points, t):
    """As the figures' 99% marks: for a falling curve the last x up to which
    it stays at or above t, for a rising one the first x from which it does."""
    pts = sorted((float(x), y) for x, y in points)
    if pts[0][1] >= pts[-1][1]:
        k = 0
        while k < len(pts) and pts[k][1] >= t:
            k += 1
        return pts[k - 1][0] if k else None
    k = 0
    while k < len(pts) and pts[-1 - k][1] >= t:
        k += 1
    return pts[len(pts) - k][0] if k else None


def fig1():
    f = load("1-goodput-load")
    c = panel(f, "(c)")
    inf, cw = at(c["inferfair"], 2), at(c["clockwork"], 2)
    print(f"1. mix-4gpu at 2x: inferfair {inf:.0f}, clockwork {cw:.0f} req/s "
          f"({(inf / cw - 1) * 100:+.1f}%)")
    for p in ("(b)", "(d)"):
        s = panel(f, p)
        best = all(
            y >= max(at(s[o], x) for o in s if o != "inferfair") - 1e-9
            for x, y in s["inferfair"]
        )
        print(f"   {p} inferfair has the highest STP at every load: {best}")


def fig2():
    f = load("2-isolation-gap")
    ratios = []
    for title, s in f.items():
        for x, y in s["inferfair"]:
            if float(x) > 1.0 and y > 0:
                ratios.append((at(s["clockwork"], x) / y, title, x))
    lo, hi = min(ratios), max(ratios)
    print(f"2. under overload (rate scale > 1) clockwork's gap / inferfair's: "
          f"{lo[0]:.1f}x ({lo[1]} at {lo[2]}) to {hi[0]:.0f}x ({hi[1]} at {hi[2]})")
    mem = panel(f, "(d)")
    print(f"   tight-memory at 2x: inferfair {at(mem['inferfair'], 2):.3f}, "
          f"clockwork {at(mem['clockwork'], 2):.3f}")


def fig3():
    f = load("3-normalized-bars")
    for title, s in f.items():
        for p in ("clockwork", "inferfair"):
            ys = [y for (x, y) in (pt for m in s.values() for pt in m) if x == p]
            print(f"3. {title}: {p} N from {min(ys):.2f} to {max(ys):.2f}, "
                  f"mean {sum(ys) / len(ys):.2f}")


def fig4():
    f = load("4-slo-attainment")
    for title, s in f.items():
        marks = {p: first_reach(v, 99.0) for p, v in s.items()}
        print(f"4. {title}: 99% reached at {marks}")
    d = panel(f, "(d)")
    print("   4 GPUs: " + ", ".join(f"{p} {at(v, 4):.1f}%" for p, v in d.items()))


def fig7():
    f = load("7-ablations")
    a = panel(f, "(a)")
    for x in ("1.1", "2"):
        print(f"7. (a) at {x}x: no feedback's gap / inferfair's = "
              f"{at(a['no feedback'], x) / at(a['inferfair'], x):.1f}x; "
              f"no estimation {at(a['no estimation'], x) / at(a['inferfair'], x):.2f}x, "
              f"no batching rule {at(a['no batching rule'], x) / at(a['inferfair'], x):.2f}x")
    c = panel(f, "(c)")
    print("   (c) gap by period: " + ", ".join(f"{x} ms {y:.3f}" for x, y in c["inferfair"])
          + f"; clockwork {c['clockwork'][0][1]:.3f}")


def fig8():
    f = load("8-tradeoff")
    for title, s in f.items():
        inf = [k for k in s if k.startswith("inferfair")][0]
        pts = {}
        with open(os.path.join(ROOT, "figures", "8-tradeoff.csv"), newline="") as fh:
            for r in csv.DictReader(fh):
                if r["title"] == title and r["series"] == inf:
                    pts[r["label"].split()[0]] = (float(r["x"]), float(r["y"]))
        g1, g0, gh = pts["1"], pts["0"], pts["0.5"]
        print(f"8. {title}: fairness 0 vs 1: goodput {(g0[0] / g1[0] - 1) * 100:+.1f}%, "
              f"gap {g1[1]:.3f} -> {g0[1]:.3f}; 0.5: goodput "
              f"{(gh[0] / g1[0] - 1) * 100:+.1f}%, gap {gh[1]:.3f}")


if __name__ == "__main__":
    for f in (fig1, fig2, fig3, fig4, fig7, fig8):
        try:
            f()
        except (KeyError, OSError, ValueError) as e:
            print(f"{f.__name__}: cannot read its numbers: {e!r}", file=sys.stderr)
