"""Fit the cost model of `analyze --stats` (src/asyncify_doctor/analysis/cost.py) on what
bench/list_cost.py measured with the real Binaryen, and say how far the estimate is from it.

    python bench/cost_calibrate.py [--version 132] [--builds ...]   # from the cache only

O0: each instrumented function's own growth (its body after the pass minus before; the pass keeps
function order and appends its runtime) is fitted by least squares on its `FunctionShape`
(A*instructions + B*unwinding_calls + C*indirect_calls + D), pooled over every measured build and
list; the rest of the module's growth is fitted as the runtime (once) plus a per-function part
(longer body-size fields), added to D. -O2/-Oz: the pipeline inlines and moves code, so
there are no per-function growths: the totals are fitted on the listed functions' unwinding calls,
indirect calls and locals (what the checks and the saving of live locals leave after optimisation) plus a runtime.

Prints the fit (paste it into cost.py's COEFFICIENTS / RUNTIME_BYTES) and, per build and list, the
measured growth, the estimate with the constants now in cost.py, and its error. Writes the fit to
~/.cache/asyncify-doctor/list-cost/fit.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeGuard

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import list_cost  # noqa: E402


def lstsq(xs: list[list[float]], ys: list[float]) -> list[float]:
    """Least squares by the normal equations (a handful of columns; no numpy in the project)."""
    k = len(xs[0])
    a = [[sum(x[i] * x[j] for x in xs) for j in range(k)] + [sum(x[i] * y for x, y in zip(xs, ys))] for i in range(k)]
    for c in range(k):   # Gauss-Jordan with partial pivoting
        p = max(range(c, k), key=lambda r: abs(a[r][c]))
        a[c], a[p] = a[p], a[c]
        if abs(a[c][c]) < 1e-12:
            continue
        for r in range(k):
            if r != c:
                f = a[r][c] / a[c][c]
                a[r] = [v - f * w for v, w in zip(a[r], a[c])]
    return [a[i][k] / a[i][i] if abs(a[i][i]) > 1e-12 else 0.0 for i in range(k)]


def ok(rec: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """Measured (not missing, not a run Binaryen aborted)."""
    return rec is not None and "failed" not in rec


def features(s: Any) -> list[float]:
    """The O0 model's columns: instructions, unwinding calls, indirect calls, 1 (A, B, C, D)."""
    return [float(s.instructions), s.unwinding_calls, float(s.indirect_calls), 1.0]


def nonnegative_lstsq(xs: list[list[float]], ys: list[float]) -> list[float]:
    """Least squares with every coefficient >= 0 (a byte count never shrinks with more calls or
    locals): a column whose coefficient comes out negative is dropped and the rest refitted."""
    keep = list(range(len(xs[0])))
    while keep and len(xs) >= len(keep):
        sol = lstsq([[x[i] for i in keep] for x in xs], ys)
        if min(sol) >= 0:
            out = [0.0] * len(xs[0])
            for i, v in zip(keep, sol):
                out[i] = v
            return out
        keep.pop(sol.index(min(sol)))
    return [0.0] * len(xs[0])


def per_function(rows: list[list_cost.Row]) -> tuple[list[list[float]], list[float], list[tuple[float, float]]]:
    """O0 rows: (features, growth) of each listed function, and per row (functions listed, the
    growth outside their bodies)."""
    from asyncify_doctor.analysis.cost import shapes
    xs: list[list[float]] = []
    ys: list[float] = []
    runtimes: list[tuple[float, float]] = []
    for r in rows:
        rec, base = r.measured.get("O0"), r.base.get("O0")
        funcs = r.cand.estimate_funcs
        if r.cand.name == "none" or not ok(rec) or not ok(base) or not funcs:
            continue
        n0 = r.graph.module.num_imported_functions
        before, after = base["body_sizes"], rec["body_sizes"]
        sh = shapes(r.graph, funcs, r.async_imports)
        fn_growth = 0.0
        for f, s in sh.items():
            g = after[f - n0] - before[f - n0]
            xs.append(features(s))
            ys.append(g)
            fn_growth += g
        runtimes.append((float(len(sh)), rec["bytes"] - base["bytes"] - fn_growth))
    return xs, ys, runtimes


def fit(rows: list[list_cost.Row]) -> dict[str, Any]:
    """The constants for cost.py, fitted on `rows` (one Binaryen version)."""
    from asyncify_doctor.analysis import cost
    xs, ys, runtimes = per_function(rows)
    a, b, c, d = lstsq(xs, ys)
    # the growth outside the listed bodies: the runtime, once, plus per function what its body's
    # longer size field and the like cost (rest = R + e * functions, fitted over the rows)
    rt, per_fn = lstsq([[1.0, n] for n, _ in runtimes], [v for _, v in runtimes])
    coef = {"O0": [a, b, c, 0.0, d + per_fn]}
    runtime = {"O0": rt}
    for level in ("O2", "Oz"):
        # after the pipeline what stays is the checks around the calls that can unwind and the saving
        # of the locals that live across them: growth = B * unwinding calls + C * indirect calls +
        # E * locals + R over the listed functions, fitted on the totals in relative terms (small and
        # large lists alike)
        pts = []
        for r in rows:
            rec, base = r.measured.get(level), r.base.get(level)
            if r.cand.name == "none" or not ok(rec) or not ok(base) or not r.cand.estimate_funcs:
                continue
            sh = cost.shapes(r.graph, r.cand.estimate_funcs, r.async_imports).values()
            y = float(rec["bytes"] - base["bytes"])
            pts.append(([sum(s.unwinding_calls for s in sh) / y, sum(s.indirect_calls for s in sh) / y,
                         sum(s.locals for s in sh) / y, 1.0 / y], 1.0))
        bz, cz, ez, rz = nonnegative_lstsq([p for p, _ in pts], [t for _, t in pts])
        coef[level] = [0.0, bz, cz, ez, 0.0]
        runtime[level] = rz
    return {"coefficients": coef, "runtime_bytes": runtime, "functions_fitted": len(ys)}


def errors(rows: list[list_cost.Row]) -> list[dict[str, Any]]:
    """Measured growth vs the estimate with cost.py's current constants, per row and level."""
    out = []
    for r in rows:
        if r.cand.name == "none":
            continue
        for level, rec in r.measured.items():
            base = r.base.get(level)
            if not ok(rec) or not ok(base):
                continue
            added = rec["bytes"] - base["bytes"]
            est = r.estimate[level]
            out.append({"build": r.build, "binaryen": r.version, "list": r.cand.name, "level": level, "measured": added,
                        "estimate": est, "error": round((est - added) / added, 4) if added else None})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builds", default=",".join(b.key for b in list_cost.BUILDS))
    ap.add_argument("--version", type=int, default=132, help="the Binaryen version to fit on (default 132)")
    ap.add_argument("--check-versions", default="132,116", help="versions whose measured error is printed")
    args = ap.parse_args(argv)
    builds = [b for b in list_cost.BUILDS if b.key in args.builds.split(",")]
    versions = sorted({args.version, *map(int, args.check_versions.split(","))}, reverse=True)
    rows = list_cost.collect(builds, versions, list_cost.LEVELS, list_cost.LISTS, list(versions),
                             list_cost.HAND_LIST, cached=True)
    result = fit([r for r in rows if r.version == args.version])
    print(f"fit on Binaryen {args.version}, {result['functions_fitted']:,} instrumented functions:")
    for level, c in result["coefficients"].items():
        print(f'    "{level}": ({", ".join(f"{v:.4g}" for v in c)}),   runtime {result["runtime_bytes"][level]:.0f}')
    errs = errors(rows)
    print("\n| build | Binaryen | list | level | measured growth | estimate (cost.py now) | error |\n|---|---|---|---|---|---|---|")
    for e in errs:
        err = "—" if e["error"] is None else f"{100 * e['error']:+.1f}%"
        print(f"| {e['build']} | {e['binaryen']} | {e['list']} | {e['level']} | {e['measured']:,} | {e['estimate']:,} | {err} |")
    worst = max((abs(e["error"]) for e in errs if e["error"] is not None), default=0.0)
    print(f"\nlargest error: {100 * worst:.1f}%")
    out = list_cost.CACHE / "fit.json"
    out.write_text(json.dumps({**result, "version": args.version, "errors": errs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
