"""A published third-party call-graph benchmark: the 24 microbenchmarks of "That's a Tough Call:
Studying the Challenges of Call Graph Construction for WebAssembly" (Lehmann, Thalakottur, Tip,
Pradel; ISSTA 2023; github.com/sola-st/wasm-call-graphs, Apache-2.0), each a small binary with a
hand-written precise call graph. The paper's soundness criterion (its `evaluation/scripts/analysis.py`):
every function reachable in the precise graph must be reachable in the tool's graph. Precise: exactly
those are (the two `*-offset-imported-global` programs cannot be: where their segment lands is the
host's choice).

Reachable in ours: the closure over `asyncify-doctor graph --format json` (direct callees and the
targets of each indirect site a function uses) from its
`entry_points` (exports, start, functions placed in imported/exported tables, held by exported
globals). Reachable in the precise graph: its closure from the exports, the start function and the
benchmark's own `entry_points` (the paper starts from exports only, which leaves `entry-point-start`
with nothing to check). Also printed: the same check with exports and start as the only roots, which
is what a graph without entry points gives.

    python bench/callgraph_soundness.py [--repo PATH]

The benchmark is downloaded once (a pinned commit) into the cache; `--repo` (or the environment
variable ASYNCIFY_DOCTOR_CALLGRAPH_BENCH) uses a checkout or a bare git directory of it instead.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from github_tree import unpack  # noqa: E402

COMMIT = "c95db5929ad12c43b68a55ac880639d3c34bb65c"
CACHE = Path(os.environ.get("ASYNCIFY_DOCTOR_CACHE", Path.home() / ".cache" / "asyncify-doctor")) / f"wasm-call-graphs-{COMMIT[:7]}"
GROUND_TRUTH = "microbenchmarks/microbenchmarks-ground-truth.json"


def fetch(repo: str | None = None) -> Path:
    """The benchmark's `microbenchmarks/` folder, from `repo` (work tree or git dir) or the cache."""
    repo = repo or os.environ.get("ASYNCIFY_DOCTOR_CALLGRAPH_BENCH")
    if repo and (Path(repo) / GROUND_TRUTH).exists():
        return Path(repo) / "microbenchmarks"
    out = CACHE / "microbenchmarks"
    if (CACHE / GROUND_TRUTH).exists():
        return out
    unpack("sola-st/wasm-call-graphs", COMMIT, CACHE, lambda parts: parts[0] == "microbenchmarks",
           git_dir=repo, paths=("microbenchmarks",))
    return out


def closure(graph: dict[int, list[int]], roots: set[int]) -> set[int]:
    seen, work = set(roots), list(roots)
    while work:
        for g in graph.get(work.pop(), []):
            if g not in seen:
                seen.add(g)
                work.append(g)
    return seen


def precise(truth: dict, module) -> tuple[dict[int, list[int]], set[int]]:  # noqa: ANN001
    """The benchmark's precise graph with names resolved to function indices, and its roots."""
    exports = {e.name: e.index for e in module.exports if e.kind == "func"}
    imports = {f.import_key: f.index for f in module.functions if f.imported}

    def node(x: object) -> int:
        s = str(x)
        return int(s) if s.isdigit() else exports.get(s, imports.get(s))  # type: ignore[return-value]

    graph = {node(k): [node(t) for t in v] for k, v in truth["precise_callgraph"].items()}
    roots = set(exports.values()) | {node(e) for e in truth["entry_points"]}
    if module.start is not None:
        roots.add(module.start)
    return graph, roots


def evaluate(wasm: Path, truth: dict) -> dict:
    from asyncify_doctor.decode import read_module
    module = read_module(wasm)
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(wasm), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    targets = {s["site"]: s["targets"] for s in data["indirect_sites"]}
    ours = {f["index"]: [*f["callees"], *(t for k in f["indirect"] for t in targets[k])] for f in data["functions"]}
    entries = {e["index"] for e in data["entry_points"]}
    basic = {e.index for e in module.exports if e.kind == "func"} | ({module.start} if module.start is not None else set())
    graph, roots = precise(truth, module)
    want = closure(graph, roots)
    reach, reach_basic = closure(ours, entries), closure(ours, basic)
    return {"truth": sorted(want), "ours": sorted(reach), "sound": want <= reach, "precise": want == reach,
            "sound_exports_start_only": want <= reach_basic, "missing": sorted(want - reach),
            "extra": sorted(reach - want)}


def run(repo: str | None = None) -> dict[str, dict]:
    folder = fetch(repo)
    truths = json.loads((folder / "microbenchmarks-ground-truth.json").read_text())
    return {name: evaluate(folder / name / "main.wasm", t["ground_truth"]) for name, t in truths.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", help="a checkout or bare git directory of sola-st/wasm-call-graphs")
    args = ap.parse_args()
    results = run(args.repo)
    print(f"{'microbenchmark':52s} {'truth':>5s} {'ours':>5s}  {'sound':>5s}  {'precise':>7s}  {'exports+start only':>18s}")
    for name, r in results.items():
        print(f"{name:52s} {len(r['truth']):5d} {len(r['ours']):5d}  {'yes' if r['sound'] else 'NO':>5s}  "
              f"{'yes' if r['precise'] else 'no':>7s}  {'yes' if r['sound_exports_start_only'] else 'NO':>18s}")
    n = len(results)
    print(f"sound with entry points: {sum(r['sound'] for r in results.values())} of {n}; "
          f"precise (exactly the reachable functions): {sum(r['precise'] for r in results.values())} of {n}; "
          f"with exports and start only: {sum(r['sound_exports_start_only'] for r in results.values())} of {n}")
    return 0 if all(r["sound"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
