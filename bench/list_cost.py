"""What each candidate list costs, measured with the real Binaryen (issue 26, "cost, measured").

For each build, each list is given to the real asyncify pass the way emcc gives it
(`wasm-opt IN --asyncify --pass-arg=asyncify-imports@… --pass-arg=asyncify-onlylist@@FILE`, the list
file written for that Binaryen version: one name a line from 117 on, commas before), and the output
is measured as it comes out of the pass (`O0`) and after the default pipeline that emcc runs after it
(`-O2`, `-Oz`). The baseline (`none`) is the same wasm-opt run without `--asyncify`, so the growth is
Asyncify's alone. Lists:

  none      no Asyncify (the baseline)
  typed     `analyze --indirect typed` (sound; the default)
  ignore    `analyze --indirect ignore` (sound only if no indirect call reaches an async import)
  all       no list: Binaryen's own analysis (what `--indirect all` computes)
  observed  the functions on the stacks `trace` recorded (bench/php_trace.py): a lower bound, unsound
  current   the user's list: the PHP maintainers' hand list (WordPress Playground, --hand-list)

Binaryen 132 is npm's wasm-opt (node_modules/.bin/wasm-opt); 116 is the libbinaryen that the PyPI
package icpp-binaryen bundles, driven through its C API in a child process (`--child-116`) with the
same levels set before the pass runs (as wasm-opt sets them from `-O2` wherever it appears).

Measurements are cached in ~/.cache/asyncify-doctor/list-cost/measured.json by the hash of the input
binary, of the list file and of the imports (outputs are deleted once measured; --keep-outputs keeps
them in list-cost/out/). The estimate of `analyze --stats` (analysis/cost.py) is printed beside each
measurement with its error.

    python bench/list_cost.py                       # every build, 132 and 116, O0/O2/Oz (slow: PHP)
    python bench/list_cost.py --cached --summary    # the tables from the cache only, no wasm-opt run
    python bench/list_cost.py --builds quickjs-release-sync --versions 132 --levels O0
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from php import php_wasm  # noqa: E402
from real_binaries import CACHE as REAL_CACHE  # noqa: E402
from real_binaries import QJS_GIVEN, package_file  # noqa: E402

CACHE = REAL_CACHE.parent / "list-cost"
MEASURED = CACHE / "measured.json"
HAND_LIST = Path(os.environ.get("ASYNCIFY_DOCTOR_PLAYGROUND_DATA", "/work/shared/data/playground-php")) / "asyncify-only.list"
PHP_STACKS = REAL_CACHE.parent / "php-wasm-node-3.1.54" / "stacks.json"
LISTS = ("none", "typed", "ignore", "all", "observed", "current")
LEVELS = ("O0", "O2", "Oz")
VERSIONS = (132, 116)


@dataclass(frozen=True)
class Build:
    key: str
    path: Callable[[], Path]
    imports: tuple[str, ...]       # the async imports as given to `analyze --imports` (emcc's rules)
    note: str


BUILDS = (
    Build("php-jspi", lambda: php_wasm("jspi"), ("@" + str(HERE / "php_trace" / "imports.list"),),
          "PHP 8.3, @php-wasm/node-8-3@3.1.54 jspi/ (built for JSPI: no Asyncify yet); imports: bench/php_trace/imports.list"),
    Build("quickjs-release-sync",
          lambda: package_file("@jitl/quickjs-wasmfile-release-sync@0.32.0", "package/dist/emscripten-module.wasm"),
          # closure-compiled glue: s = callbacks.callFunction, h = loadModuleSource, g = normalizeModule
          ("a.g", "a.h", "a.s"), "quickjs-emscripten 0.32.0 release sync build (-Oz, no names); imports: its "
          "ASYNCIFY_IMPORTS (qts_host_*), minified as a.s/a.h/a.g (read from its glue)"),
    Build("quickjs-debug-sync",
          lambda: package_file("@jitl/quickjs-wasmfile-debug-sync@0.32.0", "package/dist/emscripten-module.wasm"),
          QJS_GIVEN, "quickjs-emscripten 0.32.0 debug sync build (-O0, names); imports: its ASYNCIFY_IMPORTS"),
)


def sha(data: bytes | str, n: int = 16) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:n]


# ---------------------------------------------------------------------------------------------
# the lists


@dataclass
class Candidate:
    """One list for one build: the function indices (None: no onlylist), the file Binaryen reads."""
    name: str
    funcs: list[int] | None
    estimate_funcs: list[int] | None   # what the estimate is computed on (for `all`: analyze --indirect all)
    note: str = ""
    # `ignore`: emcc's ASYNCIFY_IGNORE_INDIRECT goes with it (no change with an onlylist: Binaryen
    # instruments the indirect calls of listed functions anyway, `addedFromList`)
    ignore_indirect: bool = False


def candidates(build: Build, module: Any, wanted: tuple[str, ...], hand_list: Path) -> tuple[list[Candidate], list[int]]:
    """The lists of `wanted` that exist for this build, and the async imports (function indices)."""
    import asyncify_doctor as ad
    from asyncify_doctor.lists import read_list

    imports = [e for i in build.imports for e in (read_list(i[1:]).entries if i.startswith("@") else [i])]
    res = {mode: ad.analyze(module, imports=imports, indirect=mode) for mode in ("typed", "ignore", "all")}
    async_imports = list(res["typed"].analysis.async_imports)
    out: list[Candidate] = []
    for mode, r in res.items():
        if not r.functions:   # an empty onlylist is no list to Binaryen: it would instrument everything
            raise SystemExit(f"{build.key}: --indirect {mode} lists nothing (imports {imports} match {async_imports})")
    for name in wanted:
        if name == "none":
            out.append(Candidate(name, None, []))
        elif name in ("typed", "ignore"):
            out.append(Candidate(name, res[name].functions, res[name].functions, ignore_indirect=name == "ignore",
                                 note="with asyncify-ignore-indirect" if name == "ignore" else ""))
        elif name == "all":
            out.append(Candidate(name, None, res["all"].functions,
                                 f"no list; analyze --indirect all lists {len(res['all'].functions):,}"))
        elif name == "observed" and build.key == "php-jspi":
            if not PHP_STACKS.exists():
                print(f"note: no {PHP_STACKS} (run bench/php_trace.py): no `observed` row", file=sys.stderr)
                continue
            frames = {fr["name"] for s in json.loads(PHP_STACKS.read_text())["stacks"] for fr in s["frames"]}
            funcs = sorted(f.index for f in module.functions if not f.imported and f.name in frames)
            out.append(Candidate(name, funcs, funcs, f"{len(frames)} distinct frames traced"))
        elif name == "current" and build.key == "php-jspi":
            if not hand_list.exists():
                print(f"note: no {hand_list}: no `current` row", file=sys.stderr)
                continue
            entries = read_list(str(hand_list)).entries
            funcs = sorted({f.index for f in module.functions if not f.imported and f.name in set(entries)})
            out.append(Candidate(name, funcs, funcs, f"{len(set(entries)):,} names, {len(funcs):,} in this binary"))
    return out, async_imports


# ---------------------------------------------------------------------------------------------
# running Binaryen


def wasm_opt_132() -> str:
    exe = shutil.which("wasm-opt", path=str(HERE.parent / "node_modules" / ".bin") + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        raise SystemExit("no wasm-opt: npm install (package.json installs binaryen 132)")
    return exe


def pass_args(imports: list[str], list_file: Path | None, ignore_indirect: bool) -> list[str]:
    """The asyncify pass arguments, as emcc passes them (imports inline, the list from a file)."""
    args = ["asyncify-imports@" + ",".join(imports)]
    if ignore_indirect:
        args.append("asyncify-ignore-indirect@")
    if list_file is not None:
        args.append(f"asyncify-onlylist@@{list_file}")
    return args


def feature_flags(module: Any, version: int) -> list[str]:
    """The `--enable-*` flags the binary needs (emcc passes its target's features likewise; the
    builds' `target_features` sections are stripped)."""
    from asyncify_doctor.decode.features import features_of, wasm_opt_flags
    return wasm_opt_flags(features_of(module, scan_code=True), version)


def run_binaryen(version: int, src: Path, dst: Path, asyncify: bool, args: list[str], level: str,
                 features: list[str]) -> None:
    """One run of the real pass (or of the pipeline alone, for the baseline): 132 through wasm-opt,
    116 through the bundled libbinaryen in a child process. Names are kept (-g) to match functions."""
    if version == 132:
        cmd = [wasm_opt_132(), str(src), "-o", str(dst), "-g", *features]
        if asyncify:
            cmd += ["--asyncify"] + [f"--pass-arg={a.removesuffix('@')}" for a in args]
        if level != "O0":
            cmd.append(f"-{level}")
    else:
        cmd = [sys.executable, __file__, "--child-116", str(src), str(dst), level, ",".join(features)] + (
            ["--asyncify"] + args if asyncify else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not dst.exists():
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise BinaryenFailed(f"Binaryen {version} failed: {' / '.join(lines[-2:]) or proc.returncode}")


class BinaryenFailed(Exception):
    """The pass aborted (Binaryen 116's Asyncify cannot instrument exception handling, which PHP uses)."""


def child_116(argv: list[str]) -> int:
    """Binaryen 116 via its C API, as `wasm-opt -g [--asyncify --pass-arg…] [-O2|-Oz]` runs it: the
    optimize and shrink levels are set before any pass (wasm-opt reads `-O2` first, and Asyncify
    optimizes what it instruments when the level is above 0), then the default pipeline after it.
    Features: the binary's own plus wasm-opt 116's defaults (tests/libbinaryen_run.py)."""
    from cffi import FFI

    from asyncify_doctor.runtime.binaryen import _CDEF, _libbinaryen_path
    sys.path.insert(0, str(HERE.parent / "tests"))
    from libbinaryen_run import DEFAULT_116, FLAGS_116

    src, dst, level, flags, rest = argv[0], argv[1], argv[2], argv[3], argv[4:]
    features = DEFAULT_116
    for flag in filter(None, flags.split(",")):
        features |= 1 << FLAGS_116.index(flag.removeprefix("--enable-"))
    asyncify = bool(rest) and rest[0] == "--asyncify"
    ffi = FFI()
    ffi.cdef(_CDEF + "uint32_t BinaryenModuleGetFeatures(BinaryenModuleRef module);")
    lib_path = _libbinaryen_path()
    if lib_path is None:
        print("icpp-binaryen is not installed", file=sys.stderr)
        return 1
    lib = ffi.dlopen(str(lib_path))
    libc = ffi.dlopen(None)
    data = Path(src).read_bytes()
    module = lib.BinaryenModuleRead(ffi.new("char[]", data), len(data))
    lib.BinaryenModuleSetFeatures(module, lib.BinaryenModuleGetFeatures(module) | features)
    lib.BinaryenSetDebugInfo(True)
    opt, shrink = {"O0": (0, 0), "O2": (2, 0), "Oz": (2, 2)}[level]
    lib.BinaryenSetOptimizeLevel(opt)
    lib.BinaryenSetShrinkLevel(shrink)
    lib.BinaryenClearPassArguments()
    keep = []
    for arg in rest[1:] if asyncify else []:
        key, _, value = arg.partition("@")
        keep += [ffi.new("char[]", key.encode()), ffi.new("char[]", value.encode())]
        lib.BinaryenSetPassArgument(keep[-2], keep[-1])
    if asyncify:
        lib.BinaryenModuleRunPasses(module, ffi.new("const char*[]", [ffi.new("char[]", b"asyncify")]), 1)
    if opt:
        lib.BinaryenModuleOptimize(module)
    if not lib.BinaryenModuleValidate(module):
        print("the output does not validate", file=sys.stderr)
        return 1
    result = lib.BinaryenModuleAllocateAndWrite(module, ffi.NULL)
    Path(dst).write_bytes(ffi.buffer(result.binary, result.binaryBytes)[:])
    libc.free(result.binary)
    return 0


# ---------------------------------------------------------------------------------------------
# measuring


def section_sizes(data: bytes) -> tuple[int, int]:
    """(bytes without custom sections, code section payload): what ships once names are stripped."""
    from asyncify_doctor.decode.reader import Reader
    r = Reader(data, 8, len(data))
    custom, code = 0, 0
    while not r.at_end():
        start = r.pos
        sid = r.u8()
        size = r.u32()
        if sid == 0:
            custom += r.pos - start + size
        elif sid == 10:
            code = size
        r.pos += size
    return len(data) - custom, code


def measure(out: Path, level: str, n_defined_in: int) -> dict[str, Any]:
    """Sizes of one output; how many functions Binaryen instrumented (audit's reading of the
    asyncified code); at O0 each defined function's body size (the pass appends its runtime
    functions, so input function i is output function i)."""
    from asyncify_doctor.analysis.audit import recognize
    from asyncify_doctor.decode.module import read_module
    from asyncify_doctor.graph.callgraph import CallGraph

    data = out.read_bytes()
    shipped, code = section_sizes(data)
    m = read_module(out)
    rec: dict[str, Any] = {"bytes": shipped, "code_bytes": code, "file_bytes": len(data)}
    rec["instrumented"] = len(recognize(CallGraph(m)).instrumented)
    if level == "O0":
        base = m.num_imported_functions
        rec["body_sizes"] = [m.body_size(base + i) for i in range(min(n_defined_in, len(m.functions) - base))]
    return rec


def load_measured() -> dict[str, Any]:
    return json.loads(MEASURED.read_text()) if MEASURED.exists() else {}


def save_measured(key: str, rec: dict[str, Any]) -> None:
    """Add one measurement to the cache file, merged with what other runs wrote meanwhile."""
    CACHE.mkdir(parents=True, exist_ok=True)
    db = load_measured()
    db[key] = rec
    tmp = MEASURED.with_name(f"measured.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(db, separators=(",", ":")))
    tmp.replace(MEASURED)


def list_file(build: Build, version: int, cand: Candidate, module: Any) -> tuple[Path | None, str]:
    """The list file wasm-opt `version` reads (names as that version names the functions), and its hash."""
    from asyncify_doctor.lists import format_names
    from asyncify_doctor.lists.binaryen_names import list_names
    if cand.funcs is None:
        return None, "-"
    text = format_names(list_names(module, cand.funcs, "wasm-opt", version), "binaryen", binaryen_version=version)
    path = CACHE / "lists" / f"{build.key}.{cand.name}.{version}.{sha(text)}.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path, sha(text)


def key_of(build: Build, in_hash: str, cand: Candidate, list_hash: str, imports: list[str], version: int, level: str) -> str:
    """The cache key: the input's, the list's and the other pass arguments' hashes, version and level."""
    args = ",".join(imports) + ("|ignore-indirect" if cand.ignore_indirect else "")
    return "|".join([build.key, in_hash, cand.name, list_hash, sha(args, 12), str(version), level])


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class Row:
    build: str
    version: int
    cand: Candidate
    n_funcs: int | None
    measured: dict[str, dict[str, Any] | None]   # level -> record
    base: dict[str, dict[str, Any] | None]
    estimate: dict[str, int]
    graph: Any = field(repr=False, default=None)
    async_imports: list[int] = field(default_factory=list)


def fmt_mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def growth(rec: dict[str, Any] | None, base: dict[str, Any] | None) -> tuple[int, float] | None:
    if rec is None or base is None or "failed" in rec or "failed" in base:
        return None
    add = rec["bytes"] - base["bytes"]
    return add, 100.0 * add / base["bytes"]


def table(rows: list[Row], levels: tuple[str, ...], summary: bool) -> str:
    """Markdown: per build and version, each list's size and growth per level (the estimate's error
    beside it unless --summary)."""
    out = []
    head = "| build | Binaryen | list | functions | " + " | ".join(
        f"{lv} bytes (growth)" + ("" if summary else f" | {lv} estimate (error)") for lv in levels) + " |"
    out += [head, "|" + "---|" * (4 + len(levels) * (1 if summary else 2))]
    for r in rows:
        cells = [r.build, str(r.version), r.cand.name, "—" if r.n_funcs is None else f"{r.n_funcs:,}"]
        for lv in levels:
            rec, g = r.measured.get(lv), growth(r.measured.get(lv), r.base.get(lv))
            if rec is None:
                cells.append("not measured")
            elif "failed" in rec:
                cells.append("Binaryen fails")
            elif r.cand.name == "none" or g is None:
                cells.append(fmt_mb(rec["bytes"]))
            else:
                cells.append(f"{fmt_mb(rec['bytes'])} ({g[1]:+.1f}%)")
            if not summary:
                est = r.estimate.get(lv)
                err = f" ({100.0 * (est - g[0]) / g[0]:+.1f}%)" if g and g[0] > 0 and est is not None else ""
                cells.append("—" if r.cand.name == "none" or est is None else f"+{fmt_mb(est)}{err}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def collect(builds: list[Build], versions: list[int], levels: tuple[str, ...], lists: tuple[str, ...],
            php_opt_versions: list[int], hand_list: Path, cached: bool, keep: bool = False) -> list[Row]:
    """Every (build, version, list) row, each level measured (run now, or from the cache)."""
    from asyncify_doctor.analysis.cost import estimate
    from asyncify_doctor.decode.module import read_module
    from asyncify_doctor.graph.callgraph import CallGraph

    db = load_measured()
    rows: list[Row] = []
    for build in builds:
        path = build.path()
        in_hash = sha(path.read_bytes())
        module = read_module(path)
        n_defined = len(module.functions) - module.num_imported_functions
        cands, async_imports = candidates(build, module, lists, hand_list)
        imports = [k for i in async_imports if (k := module.functions[i].import_key) is not None]
        graph = CallGraph(module)
        for version in versions:
            base: dict[str, dict[str, Any] | None] = {}
            for cand in cands:
                lf, lhash = list_file(build, version, cand, module)
                est = estimate(graph, cand.estimate_funcs or [], async_imports)
                row = Row(build.key, version, cand, None if cand.funcs is None else len(cand.funcs), {}, base, est,
                          graph, async_imports)
                for level in levels:
                    if build.key == "php-jspi" and level != "O0" and version not in php_opt_versions:
                        row.measured[level] = None
                        continue
                    key = key_of(build, in_hash, cand, lhash, imports, version, level)
                    if key not in db and not cached:
                        db[key] = run_one(build, path, cand, lf, imports, version, level, n_defined, keep,
                                          feature_flags(module, version))
                        save_measured(key, db[key])
                    row.measured[level] = db.get(key)
                    if cand.name == "none":
                        base[level] = db.get(key)
                if cand.name == "all" and "instrumented" in (row.measured.get("O0") or {}):
                    row.n_funcs = row.measured["O0"]["instrumented"]   # type: ignore[index]
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child-116":
        return child_116(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builds", default=",".join(b.key for b in BUILDS))
    ap.add_argument("--versions", default=",".join(map(str, VERSIONS)))
    ap.add_argument("--levels", default=",".join(LEVELS))
    ap.add_argument("--lists", default=",".join(LISTS))
    ap.add_argument("--php-opt-versions", default="132",
                    help="Binaryen versions that run -O2/-Oz on PHP (each run takes minutes); default 132")
    ap.add_argument("--hand-list", type=Path, default=HAND_LIST, help="the PHP maintainers' list (`current`)")
    ap.add_argument("--cached", action="store_true", help="only what is cached: never run Binaryen")
    ap.add_argument("--summary", action="store_true", help="the growth table only (no estimate columns)")
    ap.add_argument("--json", type=Path, default=CACHE / "summary.json", help="where to write the rows as JSON")
    ap.add_argument("--keep-outputs", action="store_true", help="keep the outputs in list-cost/out/")
    args = ap.parse_args(argv)
    levels = tuple(args.levels.split(","))
    rows = collect([b for b in BUILDS if b.key in args.builds.split(",")], [int(v) for v in args.versions.split(",")],
                   levels, tuple(args.lists.split(",")), [int(v) for v in args.php_opt_versions.split(",") if v],
                   args.hand_list, args.cached, args.keep_outputs)
    print(table(rows, levels, args.summary))
    notes = {f"{r.build}/{r.cand.name}": r.cand.note for r in rows if r.cand.note}
    for k, v in notes.items():
        print(f"- {k}: {v}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([{"build": r.build, "binaryen": r.version, "list": r.cand.name, "functions": r.n_funcs,
                                      "note": r.cand.note, "estimate": r.estimate,
                                      "measured": {lv: ({k: v for k, v in rec.items() if k != "body_sizes"} if rec else None)
                                                   for lv, rec in r.measured.items()}} for r in rows], indent=1) + "\n")
    return 0


def run_one(build: Build, path: Path, cand: Candidate, lf: Path | None, imports: list[str], version: int,
            level: str, n_defined: int, keep: bool, features: list[str]) -> dict[str, Any]:
    t0 = time.time()
    print(f"running Binaryen {version} on {build.key}, list {cand.name}, {level} …", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="list-cost-") as tmp:
        dst = Path(tmp) / "out.wasm"
        try:
            run_binaryen(version, path, dst, cand.name != "none", pass_args(imports, lf, cand.ignore_indirect), level, features)
        except BinaryenFailed as exc:   # cached too: the same input fails the same way
            print(f"  {exc}", file=sys.stderr)
            return {"failed": str(exc), "seconds": round(time.time() - t0, 1)}
        seconds = time.time() - t0
        rec = measure(dst, level, n_defined)
        if keep:
            (CACHE / "out").mkdir(parents=True, exist_ok=True)
            shutil.copy(dst, CACHE / "out" / f"{build.key}.{cand.name}.{version}.{level}.wasm")
    rec.update(seconds=round(seconds, 1), listed=None if cand.funcs is None else len(cand.funcs))
    print(f"  {rec['bytes']:,} bytes, {rec['instrumented']} instrumented, {seconds:.0f} s", file=sys.stderr, flush=True)
    return rec


if __name__ == "__main__":
    sys.exit(main())
